// The KServe V1 codec: :predict bodies in, predictions out, model list and readiness.
#include "serving/protocol_v1.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace skiff::serving {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::vector<double> Doubles(const Tensor& t) {
  std::vector<double> out(t.data.size() / sizeof(double));
  std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

Status ParseError(std::string_view body) {
  auto r = ParseV1PredictRequest(body);
  EXPECT_FALSE(r) << body;
  return r ? Status::Ok() : r.error();
}

InferResponse OneOutput(Tensor t) {
  InferResponse r;
  r.model_name = "m";
  r.outputs.push_back(std::move(t));
  return r;
}

std::string Predictions(Tensor t) {
  auto body = EncodeV1Predictions(OneOutput(std::move(t)));
  EXPECT_TRUE(body) << body.error();
  return body ? *body : std::string();
}

TEST(ProtocolV1, IrisInstancesBecomeFp64Matrix) {
  auto req =
      ParseV1PredictRequest(R"({"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5, 1.6]]})");
  ASSERT_TRUE(req) << req.error();
  ASSERT_EQ(req->inputs.size(), 1u);
  const Tensor& t = req->inputs[0];
  EXPECT_EQ(t.name, "input-0");
  EXPECT_EQ(t.datatype, DataType::kFp64);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(Doubles(t), (std::vector<double>{6.8, 2.8, 4.8, 1.4, 6.0, 3.4, 4.5, 1.6}));
  EXPECT_TRUE(req->outputs.empty());
  EXPECT_TRUE(req->parameters.empty());
}

TEST(ProtocolV1, InputsIsReadLikeInstances) {
  auto req = ParseV1PredictRequest(R"({"inputs": [[1, 2], [3, 4]]})");
  ASSERT_TRUE(req) << req.error();
  EXPECT_EQ(req->inputs[0].shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(Doubles(req->inputs[0]), (std::vector<double>{1, 2, 3, 4}));
  // Both present: instances wins; other fields reach the model as parameters.
  auto both = ParseV1PredictRequest(R"({"inputs": [[9]], "instances": [[1]], "signature": "s"})");
  ASSERT_TRUE(both) << both.error();
  EXPECT_EQ(Doubles(both->inputs[0]), (std::vector<double>{1}));
  EXPECT_EQ(Serialize(both->parameters), R"({"signature":"s"})");
}

TEST(ProtocolV1, ShapesFollowNesting) {
  auto flat = ParseV1PredictRequest(R"({"instances": [1, 2.5, 3]})");
  ASSERT_TRUE(flat) << flat.error();
  EXPECT_EQ(flat->inputs[0].shape, (std::vector<int64_t>{3}));
  auto cube =
      ParseV1PredictRequest(R"({"instances": [[[1,2],[3,4],[5,6]],[[7,8],[9,10],[11,12]]]})");
  ASSERT_TRUE(cube) << cube.error();
  EXPECT_EQ(cube->inputs[0].shape, (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(Doubles(cube->inputs[0])[11], 12.0);
}

TEST(ProtocolV1, BooleansAndIntegersAreNumbers) {
  auto req =
      ParseV1PredictRequest(R"({"instances": [[true, false, 7, -3, 18446744073709551615]]})");
  ASSERT_TRUE(req) << req.error();
  EXPECT_EQ(Doubles(req->inputs[0]), (std::vector<double>{1, 0, 7, -3, 18446744073709551615.0}));
}

TEST(ProtocolV1, StringsBecomeBytes) {
  auto req = ParseV1PredictRequest(R"({"instances": [["a", "b"], ["c", "h\u00e9"]]})");
  ASSERT_TRUE(req) << req.error();
  const Tensor& t = req->inputs[0];
  EXPECT_EQ(t.datatype, DataType::kBytes);
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t.strings, (std::vector<std::string>{"a", "b", "c", "h\xc3\xa9"}));
  EXPECT_TRUE(t.data.empty());
}

TEST(ProtocolV1, RaggedRowsAreRejectedNamingTheRow) {
  Status s = ParseError(R"({"instances": [[6.8, 2.8, 4.8, 1.4], [6.0, 3.4, 4.5]]})");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("instances[1] has 3 elements; expected 4 like instances[0]"));
  s = ParseError(R"({"instances": [[1, 2], 3]})");
  EXPECT_THAT(s.message(), HasSubstr("instances[1] is a number; expected an array of 2"));
  s = ParseError(R"({"instances": [[1, [2]]]})");
  EXPECT_THAT(s.message(), HasSubstr("instances[0][1] is an array; expected a value"));
  s = ParseError(R"({"inputs": [[[1], [2]], [[3], [4, 5]]]})");
  EXPECT_THAT(s.message(), HasSubstr("inputs[1][1] has 2 elements; expected 1 like inputs[0][0]"));
}

TEST(ProtocolV1, MixedStringsAndNumbersAreRejected) {
  Status s = ParseError(R"({"instances": [[1, "a"]]})");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(),
              HasSubstr("instances[0][1] is a string but instances[0][0] is a number"));
  s = ParseError(R"({"instances": ["a", 2]})");
  EXPECT_THAT(s.message(), HasSubstr("instances[1] is a number but instances[0] is a string"));
  s = ParseError(R"({"instances": ["a", null]})");
  EXPECT_THAT(s.message(), HasSubstr("instances[1] is null"));
}

TEST(ProtocolV1, EmptyAndMissingInstances) {
  EXPECT_THAT(ParseError(R"({"instances": []})").message(), HasSubstr("instances is empty"));
  EXPECT_THAT(ParseError(R"({"instances": [[]]})").message(), HasSubstr("instances[0] is empty"));
  EXPECT_THAT(ParseError(R"({})").message(), HasSubstr("expected \"instances\" or \"inputs\""));
  EXPECT_THAT(ParseError(R"({"instances": 5})").message(),
              HasSubstr("\"instances\" must be an array of instances, not a number"));
  EXPECT_THAT(ParseError(R"([[1, 2]])").message(), HasSubstr("expected a JSON object"));
}

TEST(ProtocolV1, ObjectsAreNotSupported) {
  Status s = ParseError(R"({"instances": [{"b64": "aGk="}]})");
  EXPECT_THAT(s.message(), HasSubstr("instances[0] is an object"));
  s = ParseError(R"({"instances": [[1], [{"a": 1}]]})");
  EXPECT_THAT(s.message(), HasSubstr("instances[1][0] is an object"));
}

TEST(ProtocolV1, MalformedJsonIsUnrecognizedRequestFormat) {
  Status s = ParseError(R"({"instances": [[6.8, 2.8,)");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), StartsWith("Unrecognized request format: "));
  EXPECT_EQ(ProtocolHttpStatus(s), 400);
  EXPECT_THAT(ParseError("not json").message(), StartsWith("Unrecognized request format: "));
}

TEST(ProtocolV1, NanInfinityAndNullReadAsNonFinite) {
  auto req = ParseV1PredictRequest(R"({"instances": [[NaN, Infinity, -Infinity, null, 1]]})");
  ASSERT_TRUE(req) << req.error();
  const std::vector<double> v = Doubles(req->inputs[0]);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[2], -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(v[3]));
  EXPECT_EQ(v[4], 1.0);
}

TEST(ProtocolV1, ElementLimitIsTooLarge) {
  ProtocolLimits limits;
  limits.max_elements = 6;
  auto ok = ParseV1PredictRequest(R"({"instances": [[1,2,3],[4,5,6]]})", limits);
  EXPECT_TRUE(ok);
  auto r = ParseV1PredictRequest(R"({"instances": [[1,2,3],[4,5,6],[7,8,9]]})", limits);
  ASSERT_FALSE(r);
  EXPECT_EQ(ProtocolHttpStatus(r.error()), 413);
  limits.max_rank = 2;
  r = ParseV1PredictRequest(R"({"instances": [[[1]]]})", limits);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("nests deeper than 2"));
}

TEST(ProtocolV1, Int64LabelsEncodeAsIntegers) {
  http::Response r =
      *EncodeV1PredictResponse(OneOutput(Tensor::FromInt64s("predict", {2}, {1, 1})));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"predictions":[1,1]})");
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
}

TEST(ProtocolV1, MatricesEncodeAsNestedListsWithRoundTripPrecision) {
  EXPECT_EQ(Predictions(Tensor::FromDoubles("p", {2, 3}, {0.1, 1.0 / 3, 2, -0.5, 1e21, 1e-7})),
            R"({"predictions":[[0.1,0.3333333333333333,2],[-0.5,1e+21,1e-7]]})");
  EXPECT_EQ(Predictions(Tensor::FromDoubles("p", {1, 2, 2}, {1, 2, 3, 4})),
            R"({"predictions":[[[1,2],[3,4]]]})");
  EXPECT_EQ(Predictions(Tensor::FromDoubles("p", {}, {7.5})), R"({"predictions":[7.5]})");
  EXPECT_EQ(Predictions(Tensor::FromDoubles("p", {0}, {})), R"({"predictions":[]})");
}

TEST(ProtocolV1, NonFiniteOutputsEncodeAsNull) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(Predictions(Tensor::FromDoubles("p", {3}, {nan, -inf, 1.5})),
            R"({"predictions":[null,null,1.5]})");
}

TEST(ProtocolV1, OtherDatatypesEncode) {
  EXPECT_EQ(Predictions(Tensor::FromStrings("p", {2}, {"setosa", "vir\"ginica"})),
            R"({"predictions":["setosa","vir\"ginica"]})");
  Tensor b;
  b.name = "p";
  b.datatype = DataType::kBool;
  b.shape = {3};
  b.data = std::string("\x01\x00\x01", 3);
  EXPECT_EQ(Predictions(b), R"({"predictions":[true,false,true]})");
  Tensor f;
  f.name = "p";
  f.datatype = DataType::kFp32;
  f.shape = {2};
  const float fv[2] = {0.1f, 2.5f};
  f.data.assign(reinterpret_cast<const char*>(fv), sizeof fv);
  EXPECT_EQ(Predictions(f), R"({"predictions":[0.1,2.5]})");
}

TEST(ProtocolV1, PicksThePredictionsOutput) {
  InferResponse r;
  r.outputs.push_back(Tensor::FromDoubles("probabilities", {1, 2}, {0.25, 0.75}));
  r.outputs.push_back(Tensor::FromInt64s("predictions", {1}, {1}));
  EXPECT_EQ(*EncodeV1Predictions(r), R"({"predictions":[1]})");
  r.outputs.pop_back();
  EXPECT_EQ(*EncodeV1Predictions(r), R"({"predictions":[[0.25,0.75]]})");
}

TEST(ProtocolV1, BrokenOutputsAreInternalErrors) {
  auto none = EncodeV1PredictResponse(InferResponse{});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code(), Code::kInternal);
  Tensor t = Tensor::FromDoubles("p", {3}, {1, 2});  // storage for 2 elements, shape says 3
  auto bad = EncodeV1PredictResponse(OneOutput(t));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInternal);
  auto utf = EncodeV1PredictResponse(OneOutput(Tensor::FromStrings("p", {1}, {"\xff"})));
  ASSERT_FALSE(utf);
  EXPECT_EQ(utf.error().code(), Code::kInvalidArgument);
}

TEST(ProtocolV1, Paths) {
  using K = V1Path::Kind;
  struct Case {
    const char* path;
    bool ok;
    K kind;
    const char* model;
  };
  const Case cases[] = {
      {"/v1/models", true, K::kList, ""},
      {"/v1/models/", true, K::kList, ""},
      {"/v1/models/sklearn-iris", true, K::kModel, "sklearn-iris"},
      {"/v1/models/sklearn-iris:predict", true, K::kPredict, "sklearn-iris"},
      {"/v1/models/sklearn-iris:explain", true, K::kExplain, "sklearn-iris"},
      {"/v1/models/sklearn-iris:train", false, K::kList, ""},
      {"/v1/models/:predict", false, K::kList, ""},
      {"/v1/models/a:b:predict", false, K::kList, ""},
      {"/v1/models/a/b", false, K::kList, ""},
      {"/v1/modelsx", false, K::kList, ""},
      {"/v2/models/a", false, K::kList, ""},
  };
  for (const Case& c : cases) {
    auto p = ParseV1Path(c.path);
    ASSERT_EQ(p.has_value(), c.ok) << c.path;
    if (!c.ok) continue;
    EXPECT_EQ(p->kind, c.kind) << c.path;
    EXPECT_EQ(p->model, c.model) << c.path;
  }
}

TEST(ProtocolV1, ModelListAndReadiness) {
  http::Response list = EncodeV1ModelList({"sklearn-iris", "xgb"});
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.body, R"({"models":["sklearn-iris","xgb"]})");
  EXPECT_EQ(EncodeV1ModelList({}).body, R"({"models":[]})");
  http::Response ready = EncodeV1ModelReady("sklearn-iris", true);
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, R"({"name":"sklearn-iris","ready":true})");
  http::Response loading = EncodeV1ModelReady("sklearn-iris", false);
  EXPECT_EQ(loading.status, 503);
  EXPECT_EQ(loading.body, R"({"error":"Model with name sklearn-iris is not ready."})");
  EXPECT_EQ(loading.headers.Get("Retry-After").value_or(""), "1");
}

}  // namespace
}  // namespace skiff::serving
