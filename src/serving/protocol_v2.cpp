#include "serving/protocol_v2.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <charconv>
#include <cstring>
#include <set>

#include "serving/protocol_json.hpp"

namespace skiff::serving {

namespace {

using protocol_json::ShapeString;

std::vector<std::string_view> SplitPath(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find('/', start);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string Quoted(std::string_view name) { return "\"" + std::string(name) + "\""; }

// A non-negative JSON integer.
bool NonNegativeInt(const json::value& v, int64_t& out) {
  if (v.is_int64() && v.get_int64() >= 0) {
    out = v.get_int64();
    return true;
  }
  return false;
}

Result<std::vector<int64_t>> ReadShape(const json::value* v, std::string_view what,
                                       const ProtocolLimits& limits) {
  const json::array* arr = v == nullptr ? nullptr : v->if_array();
  if (arr == nullptr) {
    return InvalidArgument(std::string(what) +
                           ": \"shape\" must be an array of non-negative integers");
  }
  if (arr->size() > limits.max_rank) {
    return InvalidArgument(std::string(what) + ": shape has " + std::to_string(arr->size()) +
                           " dimensions; at most " + std::to_string(limits.max_rank) +
                           " are accepted");
  }
  std::vector<int64_t> shape;
  shape.reserve(arr->size());
  for (const json::value& d : *arr) {
    int64_t n;
    if (!NonNegativeInt(d, n)) {
      return InvalidArgument(std::string(what) + ": shape " + Serialize(*v) +
                             " must hold non-negative integers");
    }
    shape.push_back(n);
  }
  return shape;
}

// Product of the shape, or TooLarge when it exceeds `max` (checked without overflow).
Result<int64_t> CheckedCount(const std::vector<int64_t>& shape, int64_t max,
                             std::string_view what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d == 0) return 0;
  }
  for (int64_t d : shape) {
    if (n > max / d) {
      return TooLarge(std::string(what) + ": shape " + ShapeString(shape) + " holds more than " +
                      std::to_string(max) + " elements");
    }
    n *= d;
  }
  return n;
}

Status DecodeBinary(Tensor& t, std::string_view bytes, int64_t count, std::string_view what) {
  if (t.datatype != DataType::kBytes) {
    const size_t need = static_cast<size_t>(count) * ElementSize(t.datatype);
    if (bytes.size() != need) {
      return InvalidArgument(std::string(what) + ": binary_data_size is " +
                             std::to_string(bytes.size()) + " but shape " + ShapeString(t.shape) +
                             " of " + std::string(DataTypeName(t.datatype)) + " needs " +
                             std::to_string(need) + " bytes");
    }
    if (t.datatype == DataType::kBool) {
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (bytes[i] != 0 && bytes[i] != 1) {
          return InvalidArgument(
              std::string(what) + ": BOOL element " + std::to_string(i) + " is byte " +
              std::to_string(static_cast<unsigned char>(bytes[i])) + "; expected 0 or 1");
        }
      }
    }
    t.data.assign(bytes);
    return Status::Ok();
  }
  t.strings.clear();
  t.strings.reserve(std::min(static_cast<size_t>(count), bytes.size() / 4));
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<int64_t>(t.strings.size()) == count) {
      return InvalidArgument(std::string(what) + ": binary data holds more than the " +
                             std::to_string(count) + " BYTES elements shape " +
                             ShapeString(t.shape) + " needs");
    }
    if (bytes.size() - pos < 4) {
      return InvalidArgument(std::string(what) + ": BYTES element " +
                             std::to_string(t.strings.size()) +
                             " is cut off inside its 4-byte length");
    }
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + pos);
    const uint32_t len =
        uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
    pos += 4;
    if (len > bytes.size() - pos) {
      return InvalidArgument(std::string(what) + ": BYTES element " +
                             std::to_string(t.strings.size()) + " claims " + std::to_string(len) +
                             " bytes but only " + std::to_string(bytes.size() - pos) + " remain");
    }
    t.strings.emplace_back(bytes.substr(pos, len));
    pos += len;
  }
  if (static_cast<int64_t>(t.strings.size()) != count) {
    return InvalidArgument(std::string(what) + ": binary data holds " +
                           std::to_string(t.strings.size()) + " BYTES elements but shape " +
                           ShapeString(t.shape) + " needs " + std::to_string(count));
  }
  return Status::Ok();
}

void AppendBinary(std::string& out, const Tensor& t) {
  if (t.datatype != DataType::kBytes) {
    out += t.data;
    return;
  }
  for (const std::string& s : t.strings) {
    const auto n = static_cast<uint32_t>(s.size());
    const char len[4] = {static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                         static_cast<char>((n >> 16) & 0xff), static_cast<char>(n >> 24)};
    out.append(len, 4);
    out += s;
  }
}

size_t BinarySize(const Tensor& t) {
  if (t.datatype != DataType::kBytes) return t.data.size();
  size_t n = 0;
  for (const std::string& s : t.strings) n += 4 + s.size();
  return n;
}

Status ReadInput(const json::value& v, size_t index, std::string_view binary, size_t& offset,
                 bool has_binary, Tensor& t, int64_t& count, const ProtocolLimits& limits,
                 int64_t budget) {
  const json::object* in = v.if_object();
  if (in == nullptr) {
    return InvalidArgument("inputs[" + std::to_string(index) + "] must be an object");
  }
  const json::value* name = in->if_contains("name");
  if (name == nullptr || !name->is_string() || name->get_string().empty()) {
    return InvalidArgument("inputs[" + std::to_string(index) + "] needs a \"name\" string");
  }
  t.name = std::string(name->get_string());
  const std::string what = "input " + Quoted(t.name);
  SKIFF_ASSIGN_OR_RETURN(t.shape, ReadShape(in->if_contains("shape"), what, limits));
  const json::value* dt = in->if_contains("datatype");
  if (dt == nullptr || !dt->is_string()) {
    return InvalidArgument(what +
                           ": \"datatype\" must be one of BOOL, UINT8, UINT16, UINT32, "
                           "UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES");
  }
  auto parsed = ParseDataType(dt->get_string());
  if (!parsed) return parsed.error().WithPrefix(what);
  t.datatype = *parsed;
  SKIFF_ASSIGN_OR_RETURN(count, CheckedCount(t.shape, budget, what));

  const json::value* binary_size = nullptr;
  if (const json::value* params = in->if_contains("parameters")) {
    if (!params->is_object()) return InvalidArgument(what + ": \"parameters\" must be an object");
    for (const auto& kv : params->get_object()) {
      if (kv.key() == "binary_data_size") {
        binary_size = &kv.value();
      } else {
        t.parameters[kv.key()] = kv.value();
      }
    }
  }
  const json::value* data = in->if_contains("data");
  if (binary_size != nullptr) {
    int64_t size;
    if (!NonNegativeInt(*binary_size, size)) {
      return InvalidArgument(what + ": binary_data_size must be a non-negative integer");
    }
    if (!has_binary) {
      return InvalidArgument(what + ": binary_data_size is set but the request has no " +
                             std::string(kInferenceHeaderContentLength) + " header");
    }
    if (data != nullptr) {
      return InvalidArgument(what + ": has both \"data\" and binary_data_size; send one");
    }
    if (static_cast<uint64_t>(size) > binary.size() - offset) {
      return InvalidArgument(what + ": binary_data_size " + std::to_string(size) +
                             " runs past the end of the body (" +
                             std::to_string(binary.size() - offset) + " bytes remain)");
    }
    SKIFF_RETURN_IF_ERROR(
        DecodeBinary(t, binary.substr(offset, static_cast<size_t>(size)), count, what));
    offset += static_cast<size_t>(size);
    return Status::Ok();
  }
  if (data == nullptr) return InvalidArgument(what + ": \"data\" is missing");
  SKIFF_ASSIGN_OR_RETURN(int64_t leaves, protocol_json::CountLeaves(*data, what));
  if (leaves != count) {
    return InvalidArgument(what + ": shape " + ShapeString(t.shape) + " needs " +
                           std::to_string(count) + " elements but data has " +
                           std::to_string(leaves));
  }
  return protocol_json::FillFromJson(t, *data, count, what);
}

Status ReadOutputs(const json::value& v, bool binary_default, const ProtocolLimits& limits,
                   std::vector<RequestedOutput>& outputs) {
  const json::array* arr = v.if_array();
  if (arr == nullptr) return InvalidArgument("\"outputs\" must be an array");
  if (arr->size() > limits.max_outputs) {
    return InvalidArgument("the request names " + std::to_string(arr->size()) +
                           " outputs; at most " + std::to_string(limits.max_outputs) +
                           " are accepted");
  }
  std::set<std::string_view> seen;
  for (size_t i = 0; i < arr->size(); ++i) {
    const json::object* o = (*arr)[i].if_object();
    const json::value* name = o == nullptr ? nullptr : o->if_contains("name");
    if (name == nullptr || !name->is_string() || name->get_string().empty()) {
      return InvalidArgument("outputs[" + std::to_string(i) + "] needs a \"name\" string");
    }
    RequestedOutput out;
    out.name = std::string(name->get_string());
    if (!seen.insert(name->get_string()).second) {
      return InvalidArgument("output " + Quoted(out.name) + " is requested twice");
    }
    out.binary_data = binary_default;
    if (const json::value* params = o->if_contains("parameters")) {
      if (!params->is_object()) {
        return InvalidArgument("output " + Quoted(out.name) + ": \"parameters\" must be an object");
      }
      out.parameters = params->get_object();
      if (const json::value* b = params->get_object().if_contains("binary_data")) {
        if (!b->is_bool()) {
          return InvalidArgument("output " + Quoted(out.name) + ": binary_data must be a boolean");
        }
        out.binary_data = b->get_bool();
      }
    }
    outputs.push_back(std::move(out));
  }
  return Status::Ok();
}

}  // namespace

std::optional<V2Path> ParseV2Path(std::string_view path) {
  if (path == "/v2" || path == "/v2/") return V2Path{V2Path::Kind::kServerMetadata, {}, {}};
  if (path == "/v2/health/live") return V2Path{V2Path::Kind::kLive, {}, {}};
  if (path == "/v2/health/ready") return V2Path{V2Path::Kind::kReady, {}, {}};
  constexpr std::string_view kModels = "/v2/models/";
  if (path.substr(0, kModels.size()) != kModels) return std::nullopt;
  const std::vector<std::string_view> seg = SplitPath(path.substr(kModels.size()));
  for (std::string_view s : seg) {
    if (s.empty()) return std::nullopt;
  }
  V2Path out;
  out.model = std::string(seg[0]);
  size_t i = 1;
  if (i < seg.size() && seg[i] == "versions") {
    if (i + 1 >= seg.size()) return std::nullopt;
    out.version = std::string(seg[i + 1]);
    i += 2;
  }
  if (i == seg.size()) {
    out.kind = V2Path::Kind::kModelMetadata;
  } else if (i + 1 == seg.size() && seg[i] == "ready") {
    out.kind = V2Path::Kind::kModelReady;
  } else if (i + 1 == seg.size() && seg[i] == "infer") {
    out.kind = V2Path::Kind::kInfer;
  } else {
    return std::nullopt;
  }
  return out;
}

Result<InferRequest> ParseV2InferRequest(std::string_view body,
                                         std::optional<std::string_view> header_length,
                                         const ProtocolLimits& limits) {
  std::string_view header = body;
  std::string_view binary;
  if (header_length.has_value()) {
    size_t n = 0;
    const std::string_view h = *header_length;
    auto [p, ec] = std::from_chars(h.data(), h.data() + h.size(), n);
    if (h.empty() || ec != std::errc() || p != h.data() + h.size()) {
      return InvalidArgument(std::string(kInferenceHeaderContentLength) +
                             " must be a byte count, not \"" + std::string(h) + "\"");
    }
    if (n > body.size()) {
      return InvalidArgument(std::string(kInferenceHeaderContentLength) + " is " +
                             std::to_string(n) + " but the body has " +
                             std::to_string(body.size()) + " bytes");
    }
    header = body.substr(0, n);
    binary = body.substr(n);
  }
  unsigned char arena[8192];
  json::monotonic_resource mr(arena);
  SKIFF_ASSIGN_OR_RETURN(json::value doc, ParseRequestJson(header, &mr));
  const json::object* obj = doc.if_object();
  if (obj == nullptr) return InvalidArgument("expected a JSON object with \"inputs\"");

  InferRequest req;
  if (const json::value* id = obj->if_contains("id")) {
    if (!id->is_string()) return InvalidArgument("\"id\" must be a string");
    req.id = std::string(id->get_string());
  }
  bool binary_output = false;
  if (const json::value* params = obj->if_contains("parameters")) {
    if (!params->is_object()) return InvalidArgument("\"parameters\" must be an object");
    req.parameters = params->get_object();
    if (const json::value* b = params->get_object().if_contains("binary_data_output")) {
      if (!b->is_bool()) return InvalidArgument("binary_data_output must be a boolean");
      binary_output = b->get_bool();
    }
  }
  const json::value* inputs = obj->if_contains("inputs");
  const json::array* arr = inputs == nullptr ? nullptr : inputs->if_array();
  if (arr == nullptr || arr->empty()) {
    return InvalidArgument("\"inputs\" must be a non-empty array of tensors");
  }
  if (arr->size() > limits.max_inputs) {
    return InvalidArgument("the request has " + std::to_string(arr->size()) + " inputs; at most " +
                           std::to_string(limits.max_inputs) + " are accepted");
  }
  req.inputs.resize(arr->size());
  size_t offset = 0;
  int64_t budget = limits.max_elements;
  std::set<std::string_view> names;
  for (size_t i = 0; i < arr->size(); ++i) {
    int64_t count = 0;
    SKIFF_RETURN_IF_ERROR(ReadInput((*arr)[i], i, binary, offset, header_length.has_value(),
                                    req.inputs[i], count, limits, budget));
    budget -= count;
    if (!names.insert(req.inputs[i].name).second) {
      return InvalidArgument("input " + Quoted(req.inputs[i].name) + " appears twice");
    }
  }
  if (offset != binary.size()) {
    return InvalidArgument(std::to_string(binary.size()) +
                           " bytes of tensor data follow the JSON header but the inputs' "
                           "binary_data_size add up to " +
                           std::to_string(offset));
  }
  if (const json::value* outputs = obj->if_contains("outputs")) {
    SKIFF_RETURN_IF_ERROR(ReadOutputs(*outputs, binary_output, limits, req.outputs));
  }
  return req;
}

Result<InferRequest> ParseV2InferRequest(const http::Request& request,
                                         const ProtocolLimits& limits) {
  std::optional<std::string_view> header = request.headers.Get(kInferenceHeaderContentLength);
  return ParseV2InferRequest(request.body, header, limits);
}

V2ResponseSpec ResponseSpecFor(const InferRequest& request) {
  V2ResponseSpec spec;
  spec.outputs = request.outputs;
  spec.id = request.id;
  if (const json::value* b = request.parameters.if_contains("binary_data_output")) {
    spec.binary_data_output = b->is_bool() && b->get_bool();
  }
  return spec;
}

Result<http::Response> EncodeV2InferResponse(const InferResponse& response,
                                             const V2ResponseSpec& spec) {
  struct Selected {
    const Tensor* tensor;
    bool binary;
  };
  std::vector<Selected> selected;
  if (spec.outputs.empty()) {
    for (const Tensor& t : response.outputs) selected.push_back({&t, spec.binary_data_output});
  } else {
    for (const RequestedOutput& r : spec.outputs) {
      const Tensor* found = nullptr;
      for (const Tensor& t : response.outputs) {
        if (t.name == r.name) found = &t;
      }
      if (found == nullptr) {
        std::string names;
        for (const Tensor& t : response.outputs)
          names += (names.empty() ? "" : ", ") + Quoted(t.name);
        return InvalidArgument("output " + Quoted(r.name) +
                               " was requested but the model returned " +
                               (names.empty() ? std::string("no outputs") : names));
      }
      selected.push_back({found, r.binary_data});
    }
  }

  std::string body = "{\"model_name\":";
  protocol_json::AppendString(body, response.model_name);
  if (!response.model_version.empty()) {
    body += ",\"model_version\":";
    protocol_json::AppendString(body, response.model_version);
  }
  const std::string& id = response.id.empty() ? spec.id : response.id;
  if (!id.empty()) {
    body += ",\"id\":";
    protocol_json::AppendString(body, id);
  }
  if (!response.parameters.empty()) {
    body += ",\"parameters\":";
    body += Serialize(response.parameters);
  }
  body += ",\"outputs\":[";
  std::string binary;
  bool any_binary = false;
  for (size_t i = 0; i < selected.size(); ++i) {
    const Tensor& t = *selected[i].tensor;
    const std::string what = "output " + Quoted(t.name);
    SKIFF_RETURN_IF_ERROR(protocol_json::CheckTensorStorage(t, what));
    if (i > 0) body += ',';
    body += "{\"name\":";
    protocol_json::AppendString(body, t.name);
    body += ",\"datatype\":\"";
    body += DataTypeName(t.datatype);
    body += "\",\"shape\":";
    protocol_json::AppendShape(body, t.shape);
    json::object params = t.parameters;
    if (selected[i].binary) params["binary_data_size"] = BinarySize(t);
    if (!params.empty()) {
      body += ",\"parameters\":";
      body += Serialize(params);
    }
    if (selected[i].binary) {
      any_binary = true;
      AppendBinary(binary, t);
    } else {
      body += ",\"data\":[";
      SKIFF_RETURN_IF_ERROR(protocol_json::AppendElements(body, t, 0, t.ElementCount(), what));
      body += ']';
    }
    body += '}';
  }
  body += "]}";
  if (!any_binary) return JsonResponse(200, std::move(body));
  http::Response r;
  r.status = 200;
  r.headers.Set("Content-Type", "application/octet-stream");
  r.headers.Set(kInferenceHeaderContentLength, std::to_string(body.size()));
  body += binary;
  r.body = std::move(body);
  return r;
}

http::Response EncodeV2ServerMetadata(std::string_view name, std::string_view version) {
  std::string body = "{\"name\":";
  protocol_json::AppendString(body, name);
  body += ",\"version\":";
  protocol_json::AppendString(body, version);
  body += ",\"extensions\":[\"";
  body += kBinaryTensorDataExtension;
  body += "\"]}";
  return JsonResponse(200, std::move(body));
}

http::Response EncodeV2Live() { return JsonResponse(200, "{\"live\":true}"); }

http::Response EncodeV2ServerReady(bool ready) {
  return ready ? JsonResponse(200, "{\"ready\":true}") : JsonResponse(503, "{\"ready\":false}");
}

http::Response EncodeV2ModelMetadata(const ModelMetadata& metadata) {
  auto specs = [](std::string& out, const std::vector<TensorSpec>& list) {
    out += '[';
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) out += ',';
      out += "{\"name\":";
      protocol_json::AppendString(out, list[i].name);
      out += ",\"datatype\":\"";
      out += DataTypeName(list[i].datatype);
      out += "\",\"shape\":";
      protocol_json::AppendShape(out, list[i].shape);
      out += '}';
    }
    out += ']';
  };
  std::string body = "{\"name\":";
  protocol_json::AppendString(body, metadata.name);
  body += ",\"versions\":[";
  for (size_t i = 0; i < metadata.versions.size(); ++i) {
    if (i > 0) body += ',';
    protocol_json::AppendString(body, metadata.versions[i]);
  }
  body += "],\"platform\":";
  protocol_json::AppendString(body, metadata.platform);
  body += ",\"inputs\":";
  specs(body, metadata.inputs);
  body += ",\"outputs\":";
  specs(body, metadata.outputs);
  body += '}';
  return JsonResponse(200, std::move(body));
}

http::Response EncodeV2ModelReady(std::string_view model, bool ready) {
  if (!ready) return ProtocolErrorResponse(ModelNotReady(model));
  std::string body = "{\"name\":";
  protocol_json::AppendString(body, model);
  body += ",\"ready\":true}";
  return JsonResponse(200, std::move(body));
}

}  // namespace skiff::serving
