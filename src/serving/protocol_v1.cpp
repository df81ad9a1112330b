#include "serving/protocol_v1.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <cmath>
#include <cstring>
#include <limits>

#include "serving/protocol_json.hpp"

namespace skiff::serving {

namespace {

constexpr std::string_view kModelsPrefix = "/v1/models";

const char* KindName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

// Reads `instances` into one tensor: validates that it is rectangular (numpy.array's rule), that
// its leaves are all numbers or all strings, and writes them in row-major order in one pass.
class InstanceReader {
 public:
  InstanceReader(std::string_view field, const ProtocolLimits& limits)
      : field_(field), limits_(limits) {}

  Status Read(const json::value& instances, Tensor& t) {
    if (!instances.is_array()) {
      return InvalidArgument("\"" + field_ + "\" must be an array of instances, not " +
                             KindName(instances));
    }
    // The shape is read along the first elements; every other array must agree with it.
    const json::value* cur = &instances;
    while (const auto* arr = cur->if_array()) {
      if (arr->empty()) {
        return InvalidArgument(FirstPath(shape_.size()) +
                               (shape_.empty() ? " is empty: send at least one instance"
                                               : " is empty: each instance needs a value"));
      }
      shape_.push_back(static_cast<int64_t>(arr->size()));
      if (shape_.size() > limits_.max_rank) {
        return InvalidArgument("\"" + field_ + "\" nests deeper than " +
                               std::to_string(limits_.max_rank) + " levels");
      }
      cur = &arr->front();
    }
    int64_t count = 1;
    for (int64_t d : shape_) {
      if (count > limits_.max_elements / d) return TooMany();
      count *= d;
    }
    if (count > limits_.max_elements) return TooMany();
    if (cur->is_string()) {
      bytes_ = true;
      strings_.reserve(static_cast<size_t>(count));
    } else if (cur->is_object()) {
      return ObjectError(FirstPath(shape_.size()));
    } else {
      t.data.resize(static_cast<size_t>(count) * sizeof(double));
      values_ = t.data.data();
    }
    path_.reserve(shape_.size());
    SKIFF_RETURN_IF_ERROR(Walk(instances, 0));

    t.name = std::string(kV1InputName);
    t.shape = std::move(shape_);
    if (bytes_) {
      t.datatype = DataType::kBytes;
      t.strings = std::move(strings_);
    } else {
      t.datatype = DataType::kFp64;
    }
    return Status::Ok();
  }

 private:
  Status Walk(const json::value& v, size_t depth) {
    if (depth < shape_.size()) {
      const auto* arr = v.if_array();
      if (arr == nullptr) {
        return InvalidArgument(Path() + " is " + KindName(v) + "; expected an array of " +
                               std::to_string(shape_[depth]) + " like " + FirstPath(depth));
      }
      if (static_cast<int64_t>(arr->size()) != shape_[depth]) {
        return InvalidArgument(Path() + " has " + std::to_string(arr->size()) +
                               " elements; expected " + std::to_string(shape_[depth]) + " like " +
                               FirstPath(depth) + " (instances must all have the same shape)");
      }
      for (size_t i = 0; i < arr->size(); ++i) {
        path_.push_back(i);
        SKIFF_RETURN_IF_ERROR(Walk((*arr)[i], depth + 1));
        path_.pop_back();
      }
      return Status::Ok();
    }
    switch (v.kind()) {
      case json::kind::array:
        return InvalidArgument(Path() + " is an array; expected a value like " + FirstPath(depth) +
                               " (instances must all have the same shape)");
      case json::kind::object:
        return ObjectError(Path());
      case json::kind::string:
        if (!bytes_) return Mixed(v);
        strings_.emplace_back(v.get_string());
        return Status::Ok();
      default:
        break;
    }
    if (bytes_) return Mixed(v);
    double d;
    switch (v.kind()) {
      case json::kind::double_:
        d = v.get_double();
        break;
      case json::kind::int64:
        d = static_cast<double>(v.get_int64());
        break;
      case json::kind::uint64:
        d = static_cast<double>(v.get_uint64());
        break;
      case json::kind::bool_:
        d = v.get_bool() ? 1.0 : 0.0;
        break;
      default:
        d = std::numeric_limits<double>::quiet_NaN();
        break;  // null: see protocol.hpp
    }
    std::memcpy(values_ + next_ * sizeof(double), &d, sizeof d);
    ++next_;
    return Status::Ok();
  }

  Status Mixed(const json::value& v) const {
    return InvalidArgument(Path() + " is " + KindName(v) + " but " + FirstPath(shape_.size()) +
                           " is " + (bytes_ ? "a string" : "a number") +
                           ": send all numbers or all strings");
  }
  Status ObjectError(const std::string& where) const {
    return InvalidArgument(where +
                           " is an object: send rows of numbers or strings (named and "
                           "{\"b64\": ...} instances are not supported)");
  }
  Status TooMany() const {
    return TooLarge("\"" + field_ + "\" holds more than " + std::to_string(limits_.max_elements) +
                    " values");
  }
  std::string Path() const {
    std::string s = field_;
    for (size_t i : path_) s += "[" + std::to_string(i) + "]";
    return s;
  }
  std::string FirstPath(size_t depth) const {
    std::string s = field_;
    for (size_t i = 0; i < depth; ++i) s += "[0]";
    return s;
  }

  std::string field_;
  const ProtocolLimits& limits_;
  std::vector<int64_t> shape_;
  std::vector<size_t> path_;
  bool bytes_ = false;
  char* values_ = nullptr;  // the tensor's data, sized by the shape before the walk
  size_t next_ = 0;
  std::vector<std::string> strings_;
};

const Tensor* PredictionsOutput(const InferResponse& response) {
  for (const Tensor& t : response.outputs) {
    if (t.name == "predictions") return &t;
  }
  return response.outputs.empty() ? nullptr : &response.outputs.front();
}

}  // namespace

std::optional<V1Path> ParseV1Path(std::string_view path) {
  if (path.substr(0, kModelsPrefix.size()) != kModelsPrefix) return std::nullopt;
  std::string_view rest = path.substr(kModelsPrefix.size());
  if (rest.empty() || rest == "/") return V1Path{V1Path::Kind::kList, {}};
  if (rest.front() != '/') return std::nullopt;
  rest.remove_prefix(1);
  if (rest.find('/') != std::string_view::npos) return std::nullopt;
  V1Path out;
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    out.kind = V1Path::Kind::kModel;
  } else {
    const std::string_view verb = rest.substr(colon + 1);
    if (verb == "predict") {
      out.kind = V1Path::Kind::kPredict;
    } else if (verb == "explain") {
      out.kind = V1Path::Kind::kExplain;
    } else {
      return std::nullopt;
    }
    rest = rest.substr(0, colon);
  }
  if (rest.empty() || rest.find(':') != std::string_view::npos) return std::nullopt;
  out.model = std::string(rest);
  return out;
}

Result<InferRequest> ParseV1PredictRequest(std::string_view body, const ProtocolLimits& limits) {
  // Small bodies (the common case: a few rows) parse without touching the heap.
  unsigned char arena[4096];
  json::monotonic_resource mr(arena);
  SKIFF_ASSIGN_OR_RETURN(json::value doc, ParseRequestJson(body, &mr));
  const json::object* obj = doc.if_object();
  if (obj == nullptr) {
    return InvalidArgument("expected a JSON object with \"instances\" or \"inputs\", not a JSON " +
                           std::string(doc.is_array() ? "array" : "value"));
  }
  const char* field = "instances";
  const json::value* instances = obj->if_contains("instances");
  if (instances == nullptr) {
    field = "inputs";
    instances = obj->if_contains("inputs");
  }
  if (instances == nullptr) {
    return InvalidArgument("expected \"instances\" or \"inputs\" in the request body");
  }
  InferRequest req;
  Tensor t;
  InstanceReader reader(field, limits);
  SKIFF_RETURN_IF_ERROR(reader.Read(*instances, t));
  req.inputs.push_back(std::move(t));
  for (const auto& kv : *obj) {
    if (kv.key() == "instances" || kv.key() == "inputs") continue;
    req.parameters[kv.key()] = json::value(kv.value(), req.parameters.storage());
  }
  return req;
}

Result<std::string> EncodeV1Predictions(const InferResponse& response) {
  const Tensor* t = PredictionsOutput(response);
  if (t == nullptr) return Internal("the model returned no output");
  const std::string what = "output \"" + t->name + "\"";
  SKIFF_RETURN_IF_ERROR(protocol_json::CheckTensorStorage(*t, what));
  std::string body;
  const int64_t n = t->ElementCount();
  body.reserve(32 + static_cast<size_t>(n) * (t->datatype == DataType::kFp64 ? 20 : 4));
  body += "{\"predictions\":";
  SKIFF_RETURN_IF_ERROR(protocol_json::AppendNested(body, *t, what));
  body += '}';
  return body;
}

Result<http::Response> EncodeV1PredictResponse(const InferResponse& response) {
  SKIFF_ASSIGN_OR_RETURN(std::string body, EncodeV1Predictions(response));
  return JsonResponse(200, std::move(body));
}

http::Response EncodeV1ModelList(const std::vector<std::string>& models) {
  std::string body = "{\"models\":[";
  bool first = true;
  for (const std::string& m : models) {
    if (!protocol_json::IsValidUtf8(m)) continue;
    if (!first) body += ',';
    first = false;
    protocol_json::AppendString(body, m);
  }
  body += "]}";
  return JsonResponse(200, std::move(body));
}

http::Response EncodeV1ModelReady(std::string_view model, bool ready) {
  if (!ready) return ProtocolErrorResponse(ModelNotReady(model));
  std::string body = "{\"name\":";
  protocol_json::AppendString(body, protocol_json::IsValidUtf8(model) ? model : "");
  body += ",\"ready\":true}";
  return JsonResponse(200, std::move(body));
}

}  // namespace skiff::serving
