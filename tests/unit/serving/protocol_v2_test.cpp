// The V2 / Open Inference Protocol codec: typed tensors in JSON, the binary tensor data extension
// (bytes built by hand here), response encoding, metadata and health bodies.
#include "serving/protocol_v2.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "serving/protocol_v1.hpp"

namespace skiff::serving {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s += static_cast<char>(b);
  return s;
}

Result<InferRequest> ParseJsonBody(std::string_view body, const ProtocolLimits& limits = {}) {
  return ParseV2InferRequest(body, std::nullopt, limits);
}

std::string OneInput(std::string_view datatype, std::string_view shape, std::string_view data) {
  return R"({"inputs":[{"name":"x","datatype":")" + std::string(datatype) + R"(","shape":)" +
         std::string(shape) + R"(,"data":)" + std::string(data) + "}]}";
}

Status InputError(std::string_view datatype, std::string_view shape, std::string_view data) {
  auto r = ParseJsonBody(OneInput(datatype, shape, data));
  EXPECT_FALSE(r) << datatype << " " << data;
  return r ? Status::Ok() : r.error();
}

// Parses a one-input request, encodes the tensor back as the model's output, and returns the
// output's "data" as the response wrote it.
struct RoundTrip {
  Tensor tensor;
  std::string data_json;
};
RoundTrip RoundTripOf(std::string_view datatype, std::string_view shape, std::string_view data) {
  auto req = ParseJsonBody(OneInput(datatype, shape, data));
  EXPECT_TRUE(req) << req.error();
  if (!req) return {};
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(req->inputs[0]);
  auto http = EncodeV2InferResponse(resp, V2ResponseSpec{});
  EXPECT_TRUE(http) << http.error();
  auto doc = ParseJson(http->body);
  EXPECT_TRUE(doc) << http->body;
  const json::value* out = Find(*doc, "/outputs/0/data");
  EXPECT_NE(out, nullptr) << http->body;
  return {req->inputs[0], out ? Serialize(*out) : std::string()};
}

template <class T>
std::string Raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

TEST(ProtocolV2, EveryDatatypeRoundTripsThroughJson) {
  struct Case {
    const char* datatype;
    const char* data;
    std::string raw;      // expected tensor bytes (little-endian)
    const char* written;  // what the response writes back
  };
  const Case cases[] = {
      {"BOOL", "[true,false,true]", Bytes({1, 0, 1}), "[true,false,true]"},
      {"UINT8", "[0,255,7]", Raw<uint8_t>({0, 255, 7}), "[0,255,7]"},
      {"UINT16", "[0,65535,7]", Raw<uint16_t>({0, 65535, 7}), "[0,65535,7]"},
      {"UINT32", "[0,4294967295,7]", Raw<uint32_t>({0, 4294967295u, 7}), "[0,4294967295,7]"},
      {"UINT64", "[0,18446744073709551615,7]", Raw<uint64_t>({0, UINT64_MAX, 7}),
       "[0,18446744073709551615,7]"},
      {"INT8", "[-128,127,0]", Raw<int8_t>({-128, 127, 0}), "[-128,127,0]"},
      {"INT16", "[-32768,32767,0]", Raw<int16_t>({-32768, 32767, 0}), "[-32768,32767,0]"},
      {"INT32", "[-2147483648,2147483647,0]", Raw<int32_t>({INT32_MIN, INT32_MAX, 0}),
       "[-2147483648,2147483647,0]"},
      {"INT64", "[-9223372036854775808,9223372036854775807,0]",
       Raw<int64_t>({INT64_MIN, INT64_MAX, 0}), "[-9223372036854775808,9223372036854775807,0]"},
      {"FP16", "[1.5,-2,65504]", Raw<uint16_t>({0x3e00, 0xc000, 0x7bff}), "[1.5,-2,65504]"},
      {"FP32", "[0.1,-2.5,3]", Raw<float>({0.1f, -2.5f, 3.0f}), "[0.1,-2.5,3]"},
      {"FP64", "[0.1,0.3333333333333333,-1e+300]", Raw<double>({0.1, 1.0 / 3, -1e300}),
       "[0.1,0.3333333333333333,-1e+300]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.datatype);
    RoundTrip rt = RoundTripOf(c.datatype, "[3]", c.data);
    EXPECT_EQ(DataTypeName(rt.tensor.datatype), c.datatype);
    EXPECT_EQ(rt.tensor.shape, (std::vector<int64_t>{3}));
    EXPECT_EQ(rt.tensor.data, c.raw);
    EXPECT_EQ(rt.data_json, c.written);
  }
  RoundTrip bytes = RoundTripOf("BYTES", "[2]", R"(["abc","h\u00e9"])");
  EXPECT_EQ(bytes.tensor.strings, (std::vector<std::string>{"abc", "h\xc3\xa9"}));
  EXPECT_EQ(bytes.data_json, "[\"abc\",\"h\xc3\xa9\"]");
}

TEST(ProtocolV2, Fp16RoundsToNearestHalf) {
  RoundTrip rt = RoundTripOf("FP16", "[2]", "[0.1, 100000e-5]");
  EXPECT_EQ(rt.tensor.data, Raw<uint16_t>({0x2e66, 0x3c00}));
  EXPECT_EQ(rt.data_json, "[0.0999755859375,1]");
}

TEST(ProtocolV2, NestedDataIsRowMajor) {
  RoundTrip rt = RoundTripOf("INT32", "[2,3]", "[[1,2,3],[4,5,6]]");
  EXPECT_EQ(rt.tensor.data, Raw<int32_t>({1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(rt.data_json, "[1,2,3,4,5,6]");
  RoundTrip empty = RoundTripOf("FP32", "[0,4]", "[]");
  EXPECT_TRUE(empty.tensor.data.empty());
  EXPECT_EQ(empty.data_json, "[]");
  RoundTrip scalar = RoundTripOf("FP64", "[]", "[2.5]");
  EXPECT_EQ(scalar.tensor.data, Raw<double>({2.5}));
}

TEST(ProtocolV2, ElementCountMustMatchShape) {
  Status s = InputError("FP32", "[2,4]", "[1,2,3,4,5,6,7]");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("input \"x\": shape [2,4] needs 8 elements but data has 7"));
  s = InputError("FP32", "[1]", "[[1],[2]]");
  EXPECT_THAT(s.message(), HasSubstr("shape [1] needs 1 elements but data has 2"));
  s = InputError("FP32", "[2]", "5");
  EXPECT_THAT(s.message(), HasSubstr("shape [2] needs 2 elements but data has 1"));
}

TEST(ProtocolV2, ValuesMustFitTheDatatype) {
  struct Case {
    const char* datatype;
    const char* data;
    const char* message;
  };
  const Case cases[] = {
      {"UINT8", "[256]",
       "input \"x\": element 0 is 256: out of range; UINT8 expects integers in [0, 255]"},
      {"UINT8", "[-1]", "is -1: out of range; UINT8"},
      {"INT8", "[-129]", "is -129: out of range; INT8 expects integers in [-128, 127]"},
      {"INT16", "[40000]", "INT16 expects integers in [-32768, 32767]"},
      {"UINT32", "[4294967296]", "UINT32 expects integers in [0, 4294967295]"},
      {"INT32", "[2147483648]", "out of range; INT32"},
      {"INT64", "[9223372036854775808]", "out of range; INT64"},
      {"UINT64", "[-1]", "out of range; UINT64"},
      {"INT64", "[1.5]", "element 0 is 1.5; INT64 expects integers"},
      {"INT32", "[1, \"2\"]", "element 1 is a string; INT32 expects integers"},
      {"INT32", "[null]", "element 0 is null; INT32 expects integers"},
      {"BOOL", "[1]", "element 0 is 1; BOOL expects true or false"},
      {"FP32", "[1e39]", "out of range for FP32"},
      {"FP32", "[true]", "element 0 is true; FP32 expects numbers"},
      {"FP16", "[70000]", "element 0 is 70000: out of range for FP16 (largest magnitude 65504)"},
      {"FP64", "[\"1\"]", "element 0 is a string; FP64 expects numbers"},
      {"BYTES", "[1]", "element 0 is 1; BYTES expects strings"},
      {"FP64", "[{\"a\":1}]", "data holds an object"},
  };
  for (const Case& c : cases) {
    Status s = InputError(
        c.datatype, std::string(c.data).find(',') == std::string::npos ? "[1]" : "[2]", c.data);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.datatype << c.data;
    EXPECT_THAT(s.message(), HasSubstr(c.message)) << c.datatype << c.data;
  }
}

TEST(ProtocolV2, NonFiniteFloatsFollowThePolicy) {
  auto req = ParseJsonBody(OneInput("FP32", "[4]", "[NaN, Infinity, -Infinity, null]"));
  ASSERT_TRUE(req) << req.error();
  const float* f = req->inputs[0].As<float>();
  EXPECT_TRUE(std::isnan(f[0]));
  EXPECT_EQ(f[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(f[2], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f[3]));
  auto half = ParseJsonBody(OneInput("FP16", "[2]", "[Infinity, NaN]"));
  ASSERT_TRUE(half) << half.error();
  EXPECT_EQ(half->inputs[0].As<uint16_t>()[0], 0x7c00);
  // Written back as null, as KServe's orjson writes them.
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(req->inputs[0]);
  auto http = EncodeV2InferResponse(resp, {});
  ASSERT_TRUE(http);
  EXPECT_THAT(http->body, HasSubstr(R"("data":[null,null,null,null])"));
}

TEST(ProtocolV2, RequestStructureErrors) {
  struct Case {
    const char* body;
    const char* message;
  };
  const Case cases[] = {
      {"{", "Unrecognized request format: "},
      {"[]", "expected a JSON object with \"inputs\""},
      {"{}", "\"inputs\" must be a non-empty array"},
      {R"({"inputs":[]})", "\"inputs\" must be a non-empty array"},
      {R"({"inputs":[1]})", "inputs[0] must be an object"},
      {R"({"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]})", "inputs[0] needs a \"name\""},
      {R"({"inputs":[{"name":"x","datatype":"FP32","data":[1]}]})",
       "input \"x\": \"shape\" must be an array"},
      {R"({"inputs":[{"name":"x","shape":[-1],"datatype":"FP32","data":[1]}]})",
       "input \"x\": shape [-1] must hold non-negative integers"},
      {R"({"inputs":[{"name":"x","shape":[1.5],"datatype":"FP32","data":[1]}]})",
       "must hold non-negative integers"},
      {R"({"inputs":[{"name":"x","shape":[1],"data":[1]}]})", "input \"x\": \"datatype\" must be"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FLOAT","data":[1]}]})",
       "input \"x\": unsupported datatype \"FLOAT\""},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]})",
       "input \"x\": \"data\" is missing"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":3}]})",
       "\"parameters\" must be an object"},
      {R"({"id":5,"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})",
       "\"id\" must be a string"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]},)"
       R"({"name":"x","shape":[1],"datatype":"FP32","data":[1]}]})",
       "input \"x\" appears twice"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{}]})",
       "outputs[0] needs a \"name\""},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],)"
       R"("outputs":[{"name":"y"},{"name":"y"}]})",
       "output \"y\" is requested twice"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],)"
       R"("outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]})",
       "binary_data must be a boolean"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],)"
       R"("parameters":{"binary_data_size":4}}]})",
       "binary_data_size is set but the request has no Inference-Header-Content-Length header"},
  };
  for (const Case& c : cases) {
    auto r = ParseJsonBody(c.body);
    ASSERT_FALSE(r) << c.body;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << c.body;
    EXPECT_THAT(r.error().message(), HasSubstr(c.message)) << c.body;
  }
}

TEST(ProtocolV2, Limits) {
  ProtocolLimits limits;
  limits.max_inputs = 1;
  limits.max_rank = 2;
  limits.max_elements = 10;
  const std::string two = R"({"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[1]},)"
                          R"({"name":"b","shape":[1],"datatype":"FP32","data":[1]}]})";
  auto r = ParseJsonBody(two, limits);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("the request has 2 inputs; at most 1"));
  r = ParseJsonBody(OneInput("FP32", "[1,1,1]", "[1]"), limits);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("shape has 3 dimensions; at most 2"));
  r = ParseJsonBody(OneInput("FP32", "[11]", "[1]"), limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(ProtocolHttpStatus(r.error()), 413);
  // A shape whose product overflows int64 is refused before anything is allocated.
  r = ParseJsonBody(OneInput("FP32", "[4294967296,4294967296]", "[1]"));
  ASSERT_FALSE(r);
  EXPECT_EQ(ProtocolHttpStatus(r.error()), 413);
  // The budget is shared by all inputs.
  limits.max_inputs = 2;
  const std::string big =
      R"({"inputs":[{"name":"a","shape":[6],"datatype":"FP32","data":[1,2,3,4,5,6]},)"
      R"({"name":"b","shape":[5],"datatype":"FP32","data":[1,2,3,4,5]}]})";
  r = ParseJsonBody(big, limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(ProtocolHttpStatus(r.error()), 413);
}

TEST(ProtocolV2, IdParametersAndRequestedOutputs) {
  auto r = ParseJsonBody(
      R"({"id":"req-1","parameters":{"binary_data_output":true,"k":1},)"
      R"("inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],"parameters":{"p":"q"}}],)"
      R"("outputs":[{"name":"a"},{"name":"b","parameters":{"binary_data":false}}]})");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->id, "req-1");
  EXPECT_EQ(Serialize(r->parameters), R"({"binary_data_output":true,"k":1})");
  EXPECT_EQ(Serialize(r->inputs[0].parameters), R"({"p":"q"})");
  ASSERT_EQ(r->outputs.size(), 2u);
  EXPECT_EQ(r->outputs[0].name, "a");
  EXPECT_TRUE(r->outputs[0].binary_data);  // inherits binary_data_output
  EXPECT_EQ(r->outputs[1].name, "b");
  EXPECT_FALSE(r->outputs[1].binary_data);  // its own flag wins
  V2ResponseSpec spec = ResponseSpecFor(*r);
  EXPECT_TRUE(spec.binary_data_output);
  EXPECT_EQ(spec.outputs.size(), 2u);
  EXPECT_EQ(spec.id, "req-1");
  // The request's id is echoed when the model's response carries none.
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(Tensor::FromInt64s("a", {1}, {1}));
  resp.outputs.push_back(Tensor::FromInt64s("b", {1}, {2}));
  spec.binary_data_output = false;
  spec.outputs.clear();
  auto http = EncodeV2InferResponse(resp, spec);
  ASSERT_TRUE(http) << http.error();
  EXPECT_THAT(http->body, StartsWith(R"({"model_name":"m","id":"req-1","outputs":[)"));
  resp.id = "model-id";
  EXPECT_THAT(EncodeV2InferResponse(resp, spec)->body, HasSubstr(R"("id":"model-id")"));
}

// {"inputs":[FP32 [2] binary, BYTES [2] binary, INT32 [1] JSON]} followed by the binary data.
TEST(ProtocolV2, BinaryRequestByteForByte) {
  const std::string header =
      R"({"inputs":[{"name":"f","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},)"
      R"({"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":10,"k":"v"}},)"
      R"({"name":"j","shape":[1],"datatype":"INT32","data":[7]}]})";
  const std::string binary = Bytes({0x00, 0x00, 0x80, 0x3f,            // 1.0f
                                    0x00, 0x00, 0x20, 0xc0,            // -2.5f
                                    0x02, 0x00, 0x00, 0x00, 'a', 'b',  // "ab"
                                    0x00, 0x00, 0x00, 0x00});          // ""
  http::Request http;
  http.body = header + binary;
  http.headers.Set("Inference-Header-Content-Length", std::to_string(header.size()));
  auto r = ParseV2InferRequest(http);
  ASSERT_TRUE(r) << r.error();
  ASSERT_EQ(r->inputs.size(), 3u);
  EXPECT_EQ(r->inputs[0].datatype, DataType::kFp32);
  EXPECT_EQ(r->inputs[0].As<float>()[0], 1.0f);
  EXPECT_EQ(r->inputs[0].As<float>()[1], -2.5f);
  EXPECT_TRUE(r->inputs[0].parameters.empty());  // binary_data_size is transport, not parameter
  EXPECT_EQ(r->inputs[1].strings, (std::vector<std::string>{"ab", ""}));
  EXPECT_EQ(Serialize(r->inputs[1].parameters), R"({"k":"v"})");
  EXPECT_EQ(r->inputs[2].As<int32_t>()[0], 7);
}

TEST(ProtocolV2, BinaryRequestErrors) {
  auto parse = [](std::string header, std::string binary) {
    std::string body = header + binary;
    return ParseV2InferRequest(body, std::to_string(header.size()));
  };
  auto input = [](std::string_view datatype, std::string_view shape, int size) {
    return R"({"inputs":[{"name":"x","shape":)" + std::string(shape) + R"(,"datatype":")" +
           std::string(datatype) + R"(","parameters":{"binary_data_size":)" + std::to_string(size) +
           "}}]}";
  };
  struct Case {
    std::string header;
    std::string binary;
    const char* message;
  };
  const Case cases[] = {
      {input("FP32", "[2,4]", 30), std::string(30, '\0'),
       "input \"x\": binary_data_size is 30 but shape [2,4] of FP32 needs 32 bytes"},
      {input("FP32", "[1]", 8), std::string(4, '\0'), "binary_data_size 8 runs past the end"},
      {input("FP32", "[1]", 4), std::string(6, '\0'),
       "6 bytes of tensor data follow the JSON header but the inputs' binary_data_size add up "
       "to 4"},
      {input("BOOL", "[2]", 2), Bytes({1, 2}), "BOOL element 1 is byte 2; expected 0 or 1"},
      {input("BYTES", "[1]", 3), Bytes({1, 0, 0}), "cut off inside its 4-byte length"},
      {input("BYTES", "[1]", 5), Bytes({9, 0, 0, 0, 'a'}), "claims 9 bytes but only 1 remain"},
      {input("BYTES", "[2]", 5), Bytes({1, 0, 0, 0, 'a'}),
       "binary data holds 1 BYTES elements but shape [2] needs 2"},
      {input("BYTES", "[1]", 10), Bytes({1, 0, 0, 0, 'a', 1, 0, 0, 0, 'b'}),
       "holds more than the 1 BYTES elements"},
      {input("FP32", "[1]", -1), "", "binary_data_size must be a non-negative integer"},
      {R"({"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1],)"
       R"("parameters":{"binary_data_size":4}}]})",
       std::string(4, '\0'), "has both \"data\" and binary_data_size"},
  };
  for (const Case& c : cases) {
    auto r = parse(c.header, c.binary);
    ASSERT_FALSE(r) << c.message;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr(c.message));
  }
  auto r = ParseV2InferRequest("{}", "3");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(),
              HasSubstr("Inference-Header-Content-Length is 3 but the body has 2 bytes"));
  r = ParseV2InferRequest("{}", "two");
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("must be a byte count, not \"two\""));
  r = ParseV2InferRequest("{}", "");
  ASSERT_FALSE(r);
}

TEST(ProtocolV2, JsonResponse) {
  InferResponse resp;
  resp.model_name = "iris";
  resp.model_version = "2";
  resp.id = "req-1";
  resp.parameters["k"] = "v";
  Tensor t = Tensor::FromInt64s("predict", {2}, {1, 1});
  t.parameters["content_type"] = "np";
  resp.outputs.push_back(t);
  auto r = EncodeV2InferResponse(resp, {});
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.Get("Content-Type").value_or(""), "application/json");
  EXPECT_FALSE(r->headers.Has("Inference-Header-Content-Length"));
  EXPECT_EQ(r->body,
            R"({"model_name":"iris","model_version":"2","id":"req-1","parameters":{"k":"v"},)"
            R"("outputs":[{"name":"predict","datatype":"INT64","shape":[2],)"
            R"("parameters":{"content_type":"np"},"data":[1,1]}]})");
}

TEST(ProtocolV2, BinaryResponseByteForByte) {
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(Tensor::FromInt64s("a", {2}, {1, -2}));
  resp.outputs.push_back(Tensor::FromStrings("b", {2}, {"xy", ""}));
  resp.outputs.push_back(Tensor::FromDoubles("c", {1}, {0.5}));
  V2ResponseSpec spec;
  spec.outputs = {{"b", true, {}}, {"a", true, {}}, {"c", false, {}}};
  auto r = EncodeV2InferResponse(resp, spec);
  ASSERT_TRUE(r) << r.error();
  const std::string json =
      R"({"model_name":"m","outputs":[)"
      R"({"name":"b","datatype":"BYTES","shape":[2],"parameters":{"binary_data_size":10}},)"
      R"({"name":"a","datatype":"INT64","shape":[2],"parameters":{"binary_data_size":16}},)"
      R"({"name":"c","datatype":"FP64","shape":[1],"data":[0.5]}]})";
  const std::string binary = Bytes({2,    0,    0,    0,    'x',  'y',  0,    0,   0, 0,  // b
                                    1,    0,    0,    0,    0,    0,    0,    0,       // a[0] = 1
                                    0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});  // -2
  EXPECT_EQ(r->body, json + binary);
  EXPECT_EQ(r->headers.Get("Inference-Header-Content-Length").value_or(""),
            std::to_string(json.size()));
  EXPECT_EQ(r->headers.Get("Content-Type").value_or(""), "application/octet-stream");
}

TEST(ProtocolV2, BinaryDataOutputAppliesToAllOutputs) {
  InferResponse resp;
  resp.model_name = "m";
  Tensor h;
  h.name = "h";
  h.datatype = DataType::kFp16;
  h.shape = {1};
  h.data = Raw<uint16_t>({0x3c00});
  resp.outputs.push_back(h);
  V2ResponseSpec spec;
  spec.binary_data_output = true;
  auto r = EncodeV2InferResponse(resp, spec);
  ASSERT_TRUE(r) << r.error();
  const std::string json =
      R"({"model_name":"m","outputs":[{"name":"h","datatype":"FP16","shape":[1],)"
      R"("parameters":{"binary_data_size":2}}]})";
  EXPECT_EQ(r->body, json + Bytes({0x00, 0x3c}));
}

TEST(ProtocolV2, RequestedOutputsFilterAndErrors) {
  InferResponse resp;
  resp.model_name = "m";
  resp.outputs.push_back(Tensor::FromInt64s("a", {1}, {1}));
  resp.outputs.push_back(Tensor::FromInt64s("b", {1}, {2}));
  V2ResponseSpec spec;
  spec.outputs = {{"b", false, {}}};
  auto r = EncodeV2InferResponse(resp, spec);
  ASSERT_TRUE(r);
  EXPECT_EQ(
      r->body,
      R"({"model_name":"m","outputs":[{"name":"b","datatype":"INT64","shape":[1],"data":[2]}]})");
  spec.outputs = {{"z", false, {}}};
  r = EncodeV2InferResponse(resp, spec);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.error().message(),
              HasSubstr("output \"z\" was requested but the model returned \"a\", \"b\""));
}

TEST(ProtocolV2, InvalidUtf8NeedsTheBinaryExtension) {
  InferResponse resp;
  resp.outputs.push_back(Tensor::FromStrings("s", {1}, {"\xff\xfe"}));
  auto r = EncodeV2InferResponse(resp, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr("output \"s\": BYTES element 0 is not valid UTF-8"));
  V2ResponseSpec spec;
  spec.binary_data_output = true;
  r = EncodeV2InferResponse(resp, spec);
  ASSERT_TRUE(r) << r.error();
  EXPECT_THAT(r->body, ::testing::EndsWith(Bytes({2, 0, 0, 0, 0xff, 0xfe})));
}

TEST(ProtocolV2, BrokenOutputStorageIsInternal) {
  InferResponse resp;
  Tensor t = Tensor::FromInt64s("a", {3}, {1});
  resp.outputs.push_back(t);
  auto r = EncodeV2InferResponse(resp, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInternal);
  EXPECT_EQ(ProtocolErrorResponse(r.error()).body, R"({"error":"internal error"})");
}

TEST(ProtocolV2, MetadataHealthAndReadiness) {
  http::Response server = EncodeV2ServerMetadata("skiff", "0.1.0");
  EXPECT_EQ(server.body,
            R"({"name":"skiff","version":"0.1.0","extensions":["binary_tensor_data"]})");
  EXPECT_EQ(EncodeV2Live().body, R"({"live":true})");
  EXPECT_EQ(EncodeV2ServerReady(true).status, 200);
  EXPECT_EQ(EncodeV2ServerReady(true).body, R"({"ready":true})");
  EXPECT_EQ(EncodeV2ServerReady(false).status, 503);
  EXPECT_EQ(EncodeV2ServerReady(false).body, R"({"ready":false})");

  ModelMetadata md;
  md.name = "sklearn-iris";
  md.versions = {"1"};
  md.platform = "sklearn";
  md.inputs = {{"input-0", DataType::kFp64, {-1, 4}}};
  md.outputs = {{"predict", DataType::kInt64, {-1}}};
  EXPECT_EQ(EncodeV2ModelMetadata(md).body,
            R"({"name":"sklearn-iris","versions":["1"],"platform":"sklearn",)"
            R"("inputs":[{"name":"input-0","datatype":"FP64","shape":[-1,4]}],)"
            R"("outputs":[{"name":"predict","datatype":"INT64","shape":[-1]}]})");
  EXPECT_EQ(EncodeV2ModelReady("sklearn-iris", true).body,
            R"({"name":"sklearn-iris","ready":true})");
  http::Response not_ready = EncodeV2ModelReady("sklearn-iris", false);
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_EQ(not_ready.body, R"({"error":"Model with name sklearn-iris is not ready."})");
}

TEST(ProtocolV2, Paths) {
  using K = V2Path::Kind;
  struct Case {
    const char* path;
    bool ok;
    K kind;
    const char* model;
    const char* version;
  };
  const Case cases[] = {
      {"/v2", true, K::kServerMetadata, "", ""},
      {"/v2/health/live", true, K::kLive, "", ""},
      {"/v2/health/ready", true, K::kReady, "", ""},
      {"/v2/models/iris", true, K::kModelMetadata, "iris", ""},
      {"/v2/models/iris/ready", true, K::kModelReady, "iris", ""},
      {"/v2/models/iris/infer", true, K::kInfer, "iris", ""},
      {"/v2/models/iris/versions/3", true, K::kModelMetadata, "iris", "3"},
      {"/v2/models/iris/versions/3/ready", true, K::kModelReady, "iris", "3"},
      {"/v2/models/iris/versions/3/infer", true, K::kInfer, "iris", "3"},
      {"/v2/models/iris/versions", false, K::kLive, "", ""},
      {"/v2/models/iris/predict", false, K::kLive, "", ""},
      {"/v2/models/iris/infer/x", false, K::kLive, "", ""},
      {"/v2/models/", false, K::kLive, "", ""},
      {"/v2/models//infer", false, K::kLive, "", ""},
      {"/v2/health", false, K::kLive, "", ""},
      {"/v1/models/iris", false, K::kLive, "", ""},
  };
  for (const Case& c : cases) {
    auto p = ParseV2Path(c.path);
    ASSERT_EQ(p.has_value(), c.ok) << c.path;
    if (!c.ok) continue;
    EXPECT_EQ(p->kind, c.kind) << c.path;
    EXPECT_EQ(p->model, c.model) << c.path;
    EXPECT_EQ(p->version, c.version) << c.path;
  }
}

}  // namespace
}  // namespace skiff::serving

namespace skiff::serving {
namespace {

// Deterministic byte mutations of valid requests (JSON and binary): whatever the bytes, the
// parsers answer with a request or a Status, and what they accept encodes back.
TEST(ProtocolV2, MutatedRequestsNeverCrash) {
  const std::string header =
      R"({"id":"r","inputs":[{"name":"f","shape":[2],"datatype":"FP16","data":[1.5,NaN]},)"
      R"({"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":10}},)"
      R"({"name":"b","shape":[1,2],"datatype":"BOOL","data":[[true,false]]}],)"
      R"("outputs":[{"name":"s","parameters":{"binary_data":true}}]})";
  const std::string binary = Bytes({2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0});
  const std::string seeds[] = {
      header + binary, R"({"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, -Infinity, 4.5, 1.6]]})"};
  uint64_t state = 42;
  auto next = [&] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(state >> 33);
  };
  const char kAlphabet[] = "[]{},:\"\\-0123456789.eENaIfinity truefalsenull\x00\xff\x01";
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string body = seeds[i % 2];
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t pos = next() % body.size();
      switch (next() % 3) {
        case 0:
          body[pos] = kAlphabet[next() % (sizeof kAlphabet - 1)];
          break;
        case 1:
          body.erase(pos, 1 + next() % 3);
          break;
        default:
          body.insert(pos, 1, kAlphabet[next() % (sizeof kAlphabet - 1)]);
          break;
      }
    }
    if (i % 2 == 0) {
      auto r = ParseV2InferRequest(body, std::to_string(std::min(body.size(), header.size())));
      if (!r) continue;
      ++accepted;
      InferResponse resp;
      resp.outputs = r->inputs;
      V2ResponseSpec spec;
      spec.binary_data_output = (i % 4 == 0);
      (void)EncodeV2InferResponse(resp, spec);
    } else {
      auto r = ParseV1PredictRequest(body);
      if (r) ++accepted;
    }
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace skiff::serving
