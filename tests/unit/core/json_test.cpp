#include "core/json.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace skiff {
namespace {

using testing::HasSubstr;

std::string Nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ParseJsonTest, Valid) {
  auto v =
      ParseJson(R"({"a": [1, -2, 3.5, true, null, "x\u00e9"], "b": {"c": 18446744073709551615}})");
  ASSERT_TRUE(v) << v.error();
  const auto& a = v->at("a").as_array();
  ASSERT_EQ(a.size(), 6u);
  EXPECT_EQ(a[0].as_int64(), 1);
  EXPECT_EQ(a[1].as_int64(), -2);
  EXPECT_DOUBLE_EQ(a[2].as_double(), 3.5);
  EXPECT_TRUE(a[3].as_bool());
  EXPECT_TRUE(a[4].is_null());
  EXPECT_EQ(a[5].as_string(), "x\xC3\xA9");
  EXPECT_EQ(v->at("b").at("c").as_uint64(), 18446744073709551615ull);
}

TEST(ParseJsonTest, ScalarsAtTopLevel) {
  EXPECT_EQ(ParseJson("42")->as_int64(), 42);
  EXPECT_EQ(ParseJson(" \"s\" ")->as_string(), "s");
  EXPECT_TRUE(ParseJson("null")->is_null());
}

TEST(ParseJsonTest, ErrorsNameLineAndColumn) {
  auto v = ParseJson("{\n  \"a\": 1,\n  \"b\": tru\n}");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(v.error().message(), HasSubstr("line 3 column 8"));

  v = ParseJson("[1, 2,]");
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("line 1 column 7"));
}

TEST(ParseJsonTest, RejectsTrailingDataAndTruncation) {
  auto v = ParseJson(R"({"a":1} {"b":2})");
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("line 1 column 9"));
  EXPECT_FALSE(ParseJson("1 2"));
  EXPECT_FALSE(ParseJson(R"({"a":)"));
  EXPECT_FALSE(ParseJson(""));
  EXPECT_FALSE(ParseJson("   "));
  EXPECT_TRUE(ParseJson("{\"a\":1}\n  \t"));  // trailing whitespace is fine
}

TEST(ParseJsonTest, RejectsWhatJsonDoesNotAllow) {
  EXPECT_FALSE(ParseJson("{'a': 1}"));
  EXPECT_FALSE(ParseJson("{\"a\": 1,}"));
  EXPECT_FALSE(ParseJson("// c\n{}"));
  EXPECT_FALSE(ParseJson("NaN"));
  EXPECT_FALSE(ParseJson("\"\xff\""));  // invalid UTF-8
  EXPECT_FALSE(ParseJson("\"a\nb\""));  // raw control character in a string
}

TEST(ParseJsonTest, ColumnsCountCharactersNotBytes) {
  auto v = ParseJson("[\"\xC3\xA9\xC3\xA9\", x]");  // x is the 8th character, 10th byte
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("line 1 column 8"));
}

TEST(ParseJsonTest, DepthLimit) {
  EXPECT_TRUE(ParseJson(Nested(kMaxJsonDepth)));
  auto v = ParseJson(Nested(kMaxJsonDepth + 1));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  // A very deep document fails cleanly instead of exhausting the stack.
  EXPECT_FALSE(ParseJson(Nested(100000)));
}

TEST(ParseJsonObjectTest, RequiresObject) {
  auto o = ParseJsonObject(R"({"kind":"Pod"})");
  ASSERT_TRUE(o);
  EXPECT_EQ(o->at("kind").as_string(), "Pod");
  for (const char* text : {"[]", "1", "\"x\"", "null", "true"}) {
    auto r = ParseJsonObject(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr("object"));
  }
  auto bad = ParseJsonObject("{");
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("invalid JSON"));
}

TEST(SerializeTest, CompactAndOrdered) {
  json::value v = {{"b", 1}, {"a", json::array{true, nullptr, "x"}}, {"c", json::object{}}};
  EXPECT_EQ(Serialize(v), R"({"b":1,"a":[true,null,"x"],"c":{}})");
  EXPECT_EQ(Serialize(json::array{}), "[]");
  EXPECT_EQ(Serialize(json::value(-5)), "-5");
  EXPECT_EQ(Serialize(json::value(18446744073709551615ull)), "18446744073709551615");
}

// An object or array is written in place (its overload), as the same value would be.
TEST(SerializeTest, ObjectsAndArraysAsTheirValues) {
  json::object o = {{"k\"", 0.5},
                    {"a", json::array{1, -2, json::object{{"n", nullptr}}, "s"}},
                    {"e", json::object{}}};
  EXPECT_EQ(Serialize(o), R"({"k\"":0.5,"a":[1,-2,{"n":null},"s"],"e":{}})");
  EXPECT_EQ(Serialize(o), Serialize(json::value(o)));
  const json::array& a = o["a"].as_array();
  EXPECT_EQ(Serialize(a), R"([1,-2,{"n":null},"s"])");
  EXPECT_EQ(Serialize(a), Serialize(json::value(a)));
  EXPECT_EQ(Serialize(json::object{}), "{}");
}

TEST(SerializeTest, EscapesStrings) {
  EXPECT_EQ(Serialize(json::value("q\"b\\n\nt\tc\x01\x1f/\xC3\xA9")),
            R"("q\"b\\n\nt\tc\u0001\u001f/)"
            "\xC3\xA9\"");
  json::value v = {{"k\"ey", "v"}};
  EXPECT_EQ(Serialize(v), R"({"k\"ey":"v"})");
}

TEST(SerializeTest, DoublesAsGoWritesThem) {
  EXPECT_EQ(Serialize(json::value(1.0)), "1");
  EXPECT_EQ(Serialize(json::value(1.1)), "1.1");
  EXPECT_EQ(Serialize(json::value(0.5)), "0.5");
  EXPECT_EQ(Serialize(json::value(-2.25)), "-2.25");
  EXPECT_EQ(Serialize(json::value(0.1)), "0.1");
  EXPECT_EQ(Serialize(json::value(123456789.0)), "123456789");
  EXPECT_EQ(Serialize(json::value(1e20)), "100000000000000000000");
  EXPECT_EQ(Serialize(json::value(1e21)), "1e+21");
  EXPECT_EQ(Serialize(json::value(0.000001)), "0.000001");
  EXPECT_EQ(Serialize(json::value(1e-7)), "1e-7");
  EXPECT_EQ(Serialize(json::value(1.5e-10)), "1.5e-10");
  EXPECT_EQ(Serialize(json::value(1e300)), "1e+300");
  EXPECT_EQ(Serialize(json::value(0.0)), "0");
}

TEST(SerializeTest, NonFiniteDoublesBecomeNull) {
  // JSON has no NaN or Infinity; writing them would produce text no client can parse.
  json::value v =
      json::array{std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                  std::numeric_limits<double>::quiet_NaN()};
  EXPECT_EQ(Serialize(v), "[null,null,null]");
  EXPECT_TRUE(ParseJson(Serialize(v)));
}

TEST(SerializeTest, RoundTripsThroughParse) {
  const char* text =
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"a.b/c":"d"}},)"
      R"("spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":0.5}}}]},"n":-3})";
  auto v = ParseJson(text);
  ASSERT_TRUE(v);
  EXPECT_EQ(Serialize(*v), text);
  for (double d : {0.1, 1.0 / 3, 2.5e-8, 6.02214076e23, -1e-300, 123.456}) {
    auto back = ParseJson(Serialize(json::value(d)));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->to_number<double>(), d);
  }
}

class FindTest : public testing::Test {
 protected:
  void SetUp() override {
    auto v = ParseJson(R"({
      "metadata": {"name": "web", "labels": {"app.kubernetes.io/name": "web", "a~b": "tilde"}},
      "spec": {"containers": [{"name": "c0", "image": "nginx"}, {"name": "c1"}]},
      "": {"empty": true},
      "list": [[1, 2], [3]],
      "n": 7
    })");
    ASSERT_TRUE(v) << v.error();
    doc_ = std::move(*v);
  }
  json::value doc_;
};

TEST_F(FindTest, DottedPaths) {
  ASSERT_NE(Find(doc_, "metadata.name"), nullptr);
  EXPECT_EQ(Find(doc_, "metadata.name")->as_string(), "web");
  EXPECT_EQ(Find(doc_, "spec.containers.1.name")->as_string(), "c1");
  EXPECT_EQ(Find(doc_, "list.0.1")->as_int64(), 2);
  EXPECT_EQ(Find(doc_, ""), &doc_);
  EXPECT_EQ(Find(doc_, "metadata.missing"), nullptr);
  EXPECT_EQ(Find(doc_, "n.x"), nullptr);  // through a scalar
  EXPECT_EQ(Find(doc_, "spec.containers.2"), nullptr);
  EXPECT_EQ(Find(doc_, "spec.containers.x"), nullptr);
  EXPECT_EQ(Find(doc_, "spec.containers.-1"), nullptr);
  EXPECT_EQ(Find(doc_, "spec.containers.01"), nullptr);  // no leading zeros
}

TEST_F(FindTest, JsonPointers) {
  EXPECT_EQ(Find(doc_, "/metadata/name")->as_string(), "web");
  EXPECT_EQ(Find(doc_, "/metadata/labels/app.kubernetes.io~1name")->as_string(), "web");
  EXPECT_EQ(Find(doc_, "/metadata/labels/a~0b")->as_string(), "tilde");
  EXPECT_EQ(Find(doc_, "/spec/containers/0/image")->as_string(), "nginx");
  EXPECT_EQ(Find(doc_, "/list/1/0")->as_int64(), 3);
  // "/" is the key "" (RFC 6901), not the root.
  ASSERT_NE(Find(doc_, "/"), nullptr);
  EXPECT_TRUE(Find(doc_, "/")->at("empty").as_bool());
  EXPECT_TRUE(Find(doc_, "//empty")->as_bool());
  EXPECT_EQ(Find(doc_, "/metadata/labels/app.kubernetes.io/name"), nullptr);
  EXPECT_EQ(Find(doc_, "/spec/containers/-"), nullptr);
  // Malformed escapes do not match anything.
  EXPECT_EQ(Find(doc_, "/metadata/labels/a~2b"), nullptr);
  EXPECT_EQ(Find(doc_, "/metadata/labels/a~"), nullptr);
}

TEST_F(FindTest, FindMutableEdits) {
  json::value* image = FindMutable(doc_, "spec.containers.0.image");
  ASSERT_NE(image, nullptr);
  *image = "nginx:1.25";
  EXPECT_EQ(GetString(doc_, "/spec/containers/0/image"), "nginx:1.25");
  EXPECT_EQ(FindMutable(doc_, "spec.nothing"), nullptr);
}

TEST_F(FindTest, GetStringFallbacks) {
  EXPECT_EQ(GetString(doc_, "metadata.name"), "web");
  EXPECT_EQ(GetString(doc_, "metadata.namespace"), "");
  EXPECT_EQ(GetString(doc_, "metadata.namespace", "default"), "default");
  EXPECT_EQ(GetString(doc_, "n", "not-a-string"), "not-a-string");
  EXPECT_EQ(GetString(doc_, "metadata", "obj"), "obj");
}

TEST_F(FindTest, GetObject) {
  ASSERT_NE(GetObject(doc_, "metadata.labels"), nullptr);
  EXPECT_EQ(GetObject(doc_, "metadata.labels")->size(), 2u);
  EXPECT_EQ(GetObject(doc_, "metadata.name"), nullptr);
  EXPECT_EQ(GetObject(doc_, "nope"), nullptr);
}

TEST(EnsureObjectTest, CreatesKeepsAndReplaces) {
  json::object o;
  json::object& spec = EnsureObject(o, "spec");
  spec["replicas"] = 3;
  EXPECT_EQ(Serialize(o), R"({"spec":{"replicas":3}})");
  // Existing objects are kept as they are.
  EnsureObject(o, "spec")["paused"] = false;
  EXPECT_EQ(Serialize(o), R"({"spec":{"replicas":3,"paused":false}})");
  // Non-objects are replaced.
  o["status"] = "x";
  EnsureObject(o, "status")["phase"] = "Running";
  EXPECT_EQ(Serialize(o["status"]), R"({"phase":"Running"})");
  o["nul"] = nullptr;
  EXPECT_TRUE(EnsureObject(o, "nul").empty());
}

}  // namespace
}  // namespace skiff
