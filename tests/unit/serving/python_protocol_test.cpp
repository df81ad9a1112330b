// The framed protocol between skiff and its Python workers, without processes.

#include "serving/runtimes/python_protocol.hpp"

#include <gtest/gtest.h>

namespace skiff::serving::python_protocol {
namespace {

TEST(PythonProtocolTest, PrefixRoundTrips) {
  std::string p = EncodePrefix(17, 1ull << 33);
  ASSERT_EQ(p.size(), kPrefixBytes);
  EXPECT_EQ(p.substr(0, 4), "SKW1");
  auto d = DecodePrefix(p, 1ull << 40);
  ASSERT_TRUE(d) << d.error();
  EXPECT_EQ(d->header_bytes, 17u);
  EXPECT_EQ(d->payload_bytes, 1ull << 33);
}

TEST(PythonProtocolTest, PrefixRejectsBadMagicAndOversizedFrames) {
  std::string p = EncodePrefix(1, 2);
  p[0] = 'X';
  EXPECT_EQ(DecodePrefix(p, 100).error().code(), Code::kInternal);
  EXPECT_EQ(DecodePrefix(EncodePrefix(1, 101), 100).error().code(), Code::kResourceExhausted);
  EXPECT_EQ(DecodePrefix(EncodePrefix(kMaxHeaderBytes + 1, 0), 100).error().code(),
            Code::kResourceExhausted);
}

TEST(PythonProtocolTest, FrameIsPrefixHeaderPayload) {
  std::string f = EncodeFrame(json::object{{"type", "x"}}, "abc");
  auto p = DecodePrefix(f.substr(0, kPrefixBytes), 10);
  ASSERT_TRUE(p);
  EXPECT_EQ(f.substr(kPrefixBytes, p->header_bytes), R"({"type":"x"})");
  EXPECT_EQ(f.substr(kPrefixBytes + p->header_bytes), "abc");
}

TEST(PythonProtocolTest, TensorsRoundTripAligned) {
  json::array descs;
  std::string payload;
  Tensor a = Tensor::FromDoubles("a", {2, 2}, {1.5, -2, 3, 4});
  Tensor s = Tensor::FromStrings("s", {3}, {"setosa", "", std::string("\0\xff", 2)});
  Tensor b;
  b.name = "b";
  b.datatype = DataType::kBool;
  b.shape = {3};
  b.data = std::string("\1\0\1", 3);
  b.parameters["content_type"] = "np";
  AppendTensor(b, descs, payload);
  AppendTensor(a, descs, payload);
  AppendTensor(s, descs, payload);
  EXPECT_EQ(descs[1].as_object().at("offset").as_int64(), 8);  // after 3 bytes, aligned
  auto out = DecodeTensors(descs, payload);
  ASSERT_TRUE(out) << out.error();
  ASSERT_EQ(out->size(), 3u);
  EXPECT_EQ((*out)[0].data, b.data);
  EXPECT_EQ((*out)[0].datatype, DataType::kBool);
  EXPECT_EQ((*out)[0].parameters.at("content_type").as_string(), "np");
  EXPECT_EQ((*out)[1].data, a.data);
  EXPECT_EQ((*out)[1].shape, a.shape);
  EXPECT_EQ((*out)[2].strings, s.strings);
}

TEST(PythonProtocolTest, MalformedDescriptorsAreRejected) {
  std::string payload(16, '\0');
  auto decode = [&](std::string_view text) {
    auto v = ParseJson(text);
    EXPECT_TRUE(v) << text;
    return DecodeTensors(*v, payload);
  };
  EXPECT_FALSE(decode(R"({"not": "an array"})"));
  EXPECT_FALSE(decode(R"([{"name":"x","datatype":"FP99","shape":[1],"offset":0,"length":8}])"));
  EXPECT_FALSE(decode(R"([{"name":"x","datatype":"FP64","shape":[3],"offset":0,"length":8}])"));
  EXPECT_FALSE(decode(R"([{"name":"x","datatype":"FP64","shape":[1],"offset":12,"length":8}])"));
  EXPECT_FALSE(decode(R"([{"name":"x","datatype":"FP64","shape":[-1],"offset":0,"length":8}])"));
  EXPECT_FALSE(decode(R"([{"name":"x","datatype":"BYTES","shape":[1],"offset":0,"length":3}])"));
  EXPECT_FALSE(decode(R"([{"name":"x","datatype":"FP64","shape":[1]}])"));
  EXPECT_TRUE(decode(R"([{"name":"x","datatype":"FP64","shape":[2],"offset":0,"length":16}])"));
}

TEST(PythonProtocolTest, InferRequestCarriesInputsOutputsAndParameters) {
  InferRequest r;
  r.id = "42";
  r.inputs.push_back(Tensor::FromInt64s("x", {1, 2}, {7, 8}));
  RequestedOutput o;
  o.name = "output-0";
  r.outputs.push_back(o);
  r.parameters["k"] = 1;
  std::string f = EncodeInferRequest(r);
  auto p = DecodePrefix(f.substr(0, kPrefixBytes), 1000);
  ASSERT_TRUE(p);
  auto header = ParseJsonObject(f.substr(kPrefixBytes, p->header_bytes));
  ASSERT_TRUE(header);
  EXPECT_EQ(GetString(*header, "type"), "infer");
  EXPECT_EQ(GetString(*header, "id"), "42");
  EXPECT_EQ(header->at("outputs").as_array().at(0).as_string(), "output-0");
  EXPECT_EQ(header->at("parameters").as_object().at("k").as_int64(), 1);
  auto inputs = DecodeTensors(header->at("inputs"), f.substr(kPrefixBytes + p->header_bytes));
  ASSERT_TRUE(inputs);
  EXPECT_EQ((*inputs)[0].data, r.inputs[0].data);
}

TEST(PythonProtocolTest, ErrorRepliesKeepTheirCode) {
  Status s = ErrorFromReply(json::object{{"code", "INVALID_ARGUMENT"}, {"error", "ValueError: x"}});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_EQ(s.message(), "ValueError: x");
  EXPECT_EQ(ErrorFromReply(json::object{{"code", "NOT_FOUND"}}).code(), Code::kNotFound);
  EXPECT_EQ(ErrorFromReply(json::object{{"code", "WHATEVER"}}).code(), Code::kInternal);
  EXPECT_EQ(ErrorFromReply(json::object{{"code", "OK"}}).code(), Code::kInternal);
}

}  // namespace
}  // namespace skiff::serving::python_protocol
