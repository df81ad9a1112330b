#include "serving/runtimes/python_protocol.hpp"

#include <cstring>

namespace skiff::serving::python_protocol {

namespace {

void PutLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  }
  return v;
}

const json::value* Field(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? nullptr : &it->value();
}

}  // namespace

std::string EncodePrefix(uint32_t header_bytes, uint64_t payload_bytes) {
  std::string out(kMagic);
  PutLe(out, header_bytes, 4);
  PutLe(out, payload_bytes, 8);
  return out;
}

Result<Prefix> DecodePrefix(std::string_view bytes, uint64_t max_payload_bytes) {
  SKIFF_CHECK(bytes.size() == kPrefixBytes);
  if (bytes.substr(0, 4) != kMagic) {
    return Internal("the Python worker sent a frame without the SKW1 magic");
  }
  Prefix p;
  p.header_bytes = static_cast<uint32_t>(GetLe(bytes, 4, 4));
  p.payload_bytes = GetLe(bytes, 8, 8);
  if (p.header_bytes > kMaxHeaderBytes) {
    return ResourceExhausted("the Python worker sent a " + std::to_string(p.header_bytes) +
                             "-byte header, over the limit of " + std::to_string(kMaxHeaderBytes));
  }
  if (p.payload_bytes > max_payload_bytes) {
    return ResourceExhausted("the Python worker sent a " + std::to_string(p.payload_bytes) +
                             "-byte answer, over the limit of " +
                             std::to_string(max_payload_bytes));
  }
  return p;
}

std::string EncodeFrame(const json::object& header, std::string_view payload) {
  std::string h = Serialize(header);
  std::string out = EncodePrefix(static_cast<uint32_t>(h.size()), payload.size());
  out.reserve(out.size() + h.size() + payload.size());
  out += h;
  out.append(payload.data(), payload.size());
  return out;
}

void AppendTensor(const Tensor& t, json::array& descriptors, std::string& payload) {
  payload.resize((payload.size() + 7) & ~size_t{7}, '\0');
  const size_t offset = payload.size();
  if (t.datatype == DataType::kBytes) {
    for (const auto& s : t.strings) {
      PutLe(payload, s.size(), 4);
      payload += s;
    }
  } else {
    payload += t.data;
  }
  json::array shape;
  for (int64_t d : t.shape) shape.push_back(d);
  json::object d{{"name", t.name},
                 {"datatype", DataTypeName(t.datatype)},
                 {"shape", std::move(shape)},
                 {"offset", static_cast<int64_t>(offset)},
                 {"length", static_cast<int64_t>(payload.size() - offset)}};
  if (!t.parameters.empty()) d["parameters"] = t.parameters;
  descriptors.push_back(std::move(d));
}

std::string EncodeInferRequest(const InferRequest& request) {
  json::array inputs;
  std::string payload;
  for (const auto& t : request.inputs) AppendTensor(t, inputs, payload);
  json::array outputs;
  for (const auto& o : request.outputs) outputs.push_back(json::string(o.name));
  json::object header{{"type", "infer"},
                      {"id", request.id},
                      {"inputs", std::move(inputs)},
                      {"outputs", std::move(outputs)}};
  if (!request.parameters.empty()) header["parameters"] = request.parameters;
  return EncodeFrame(header, payload);
}

Result<std::vector<Tensor>> DecodeTensors(const json::value& descriptors,
                                          std::string_view payload) {
  auto bad = [](const std::string& why) {
    return InvalidArgument("malformed tensor from the Python worker: " + why);
  };
  if (!descriptors.is_array()) return bad("\"outputs\" is not an array");
  std::vector<Tensor> out;
  for (const auto& v : descriptors.as_array()) {
    if (!v.is_object()) return bad("a descriptor is not an object");
    const auto& o = v.as_object();
    Tensor t;
    t.name = GetString(o, "name");
    auto type = ParseDataType(GetString(o, "datatype"));
    if (!type) return bad("tensor \"" + t.name + "\": " + type.error().message());
    t.datatype = *type;
    const auto* shape = Field(o, "shape");
    const auto* offset = Field(o, "offset");
    const auto* length = Field(o, "length");
    if (!shape || !shape->is_array() || !offset || !length || !offset->is_int64() ||
        !length->is_int64()) {
      return bad("tensor \"" + t.name + "\" lacks shape, offset or length");
    }
    for (const auto& d : shape->as_array()) {
      if (!d.is_int64() || d.as_int64() < 0) return bad("tensor \"" + t.name + "\" shape");
      t.shape.push_back(d.as_int64());
    }
    const int64_t off = offset->as_int64(), len = length->as_int64();
    if (off < 0 || len < 0 || static_cast<uint64_t>(off) > payload.size() ||
        static_cast<uint64_t>(len) > payload.size() - static_cast<uint64_t>(off)) {
      return bad("tensor \"" + t.name + "\" points outside the payload");
    }
    std::string_view bytes = payload.substr(off, len);
    const int64_t count = t.ElementCount();
    if (count < 0) return bad("tensor \"" + t.name + "\" is too large");
    if (t.datatype == DataType::kBytes) {
      size_t pos = 0;
      for (int64_t i = 0; i < count; ++i) {
        if (bytes.size() - pos < 4) return bad("tensor \"" + t.name + "\" BYTES are short");
        const uint64_t n = GetLe(bytes, pos, 4);
        pos += 4;
        if (bytes.size() - pos < n) return bad("tensor \"" + t.name + "\" BYTES are short");
        t.strings.emplace_back(bytes.substr(pos, n));
        pos += n;
      }
      if (pos != bytes.size()) return bad("tensor \"" + t.name + "\" has extra BYTES");
    } else {
      if (static_cast<uint64_t>(count) * ElementSize(t.datatype) != bytes.size()) {
        return bad("tensor \"" + t.name + "\" length does not match its shape");
      }
      t.data.assign(bytes.data(), bytes.size());
    }
    if (const auto* p = GetObject(o, "parameters")) t.parameters = *p;
    out.push_back(std::move(t));
  }
  return out;
}

Status ErrorFromReply(const json::object& header) {
  const std::string code = GetString(header, "code", "INTERNAL");
  std::string message = GetString(header, "error", "the Python worker reported an error");
  for (int c = 1; c <= static_cast<int>(Code::kUnauthenticated); ++c) {
    if (CodeName(static_cast<Code>(c)) == code) return Status(static_cast<Code>(c), message);
  }
  return Internal(message);
}

}  // namespace skiff::serving::python_protocol
