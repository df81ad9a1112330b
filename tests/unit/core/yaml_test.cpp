#include "core/yaml.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace skiff {
namespace {

using testing::HasSubstr;

// The value of `v: <text>` parsed as YAML.
json::value ValueOf(const std::string& text) {
  auto doc = ParseYaml("v: " + text + "\n");
  EXPECT_TRUE(doc) << text << ": " << doc.error();
  if (!doc) return nullptr;
  return doc->as_object().at("v");
}

// --- Scalar resolution, as sigs.k8s.io/yaml (go-yaml v2) resolves plain scalars ---

struct ScalarCase {
  std::string text;
  json::value want;
};

void PrintTo(const ScalarCase& c, std::ostream* os) { *os << "\"" << c.text << "\""; }

class ScalarTest : public testing::TestWithParam<ScalarCase> {};

TEST_P(ScalarTest, Resolves) {
  const auto& c = GetParam();
  json::value got = ValueOf(c.text);
  EXPECT_EQ(got.kind(), c.want.kind()) << c.text << " -> " << Serialize(got);
  EXPECT_EQ(got, c.want) << c.text << " -> " << Serialize(got);
}

json::value S(const char* s) { return json::value(json::string(s)); }

INSTANTIATE_TEST_SUITE_P(
    Booleans, ScalarTest,
    testing::Values(ScalarCase{"true", true}, ScalarCase{"True", true}, ScalarCase{"TRUE", true},
                    ScalarCase{"yes", true}, ScalarCase{"Yes", true}, ScalarCase{"YES", true},
                    ScalarCase{"on", true}, ScalarCase{"On", true}, ScalarCase{"ON", true},
                    ScalarCase{"y", true}, ScalarCase{"Y", true}, ScalarCase{"false", false},
                    ScalarCase{"False", false}, ScalarCase{"FALSE", false}, ScalarCase{"no", false},
                    ScalarCase{"No", false}, ScalarCase{"NO", false}, ScalarCase{"off", false},
                    ScalarCase{"Off", false}, ScalarCase{"OFF", false}, ScalarCase{"n", false},
                    ScalarCase{"N", false},
                    // Not in go-yaml's table: strings.
                    ScalarCase{"tRUE", S("tRUE")}, ScalarCase{"yES", S("yES")},
                    ScalarCase{"oN", S("oN")}, ScalarCase{"t", S("t")}, ScalarCase{"f", S("f")},
                    ScalarCase{"nope", S("nope")}));

INSTANTIATE_TEST_SUITE_P(Nulls, ScalarTest,
                         testing::Values(ScalarCase{"null", nullptr}, ScalarCase{"Null", nullptr},
                                         ScalarCase{"NULL", nullptr}, ScalarCase{"~", nullptr},
                                         ScalarCase{"", nullptr}, ScalarCase{"nULL", S("nULL")},
                                         ScalarCase{"none", S("none")}));

INSTANTIATE_TEST_SUITE_P(
    Integers, ScalarTest,
    testing::Values(ScalarCase{"0", 0}, ScalarCase{"42", 42}, ScalarCase{"-17", -17},
                    ScalarCase{"+5", 5}, ScalarCase{"-0", 0}, ScalarCase{"1_000_000", 1000000},
                    ScalarCase{"0x1F", 31}, ScalarCase{"0X1f", 31}, ScalarCase{"-0x10", -16},
                    ScalarCase{"0o17", 15}, ScalarCase{"0O17", 15}, ScalarCase{"0b101", 5},
                    ScalarCase{"-0b11", -3},
                    // YAML 1.1 / Go base 0: a leading zero means octal.
                    ScalarCase{"0755", 493}, ScalarCase{"-010", -8}, ScalarCase{"00", 0},
                    ScalarCase{"9223372036854775807", std::numeric_limits<int64_t>::max()},
                    ScalarCase{"-9223372036854775808", std::numeric_limits<int64_t>::min()},
                    ScalarCase{"9223372036854775808", json::value(9223372036854775808ull)},
                    ScalarCase{"18446744073709551615", json::value(18446744073709551615ull)},
                    ScalarCase{"0xFFFFFFFFFFFFFFFF", json::value(18446744073709551615ull)}));

INSTANTIATE_TEST_SUITE_P(
    Floats, ScalarTest,
    testing::Values(ScalarCase{"1.5", 1.5}, ScalarCase{"-2.25", -2.25}, ScalarCase{".5", 0.5},
                    ScalarCase{"-.5", -0.5}, ScalarCase{"+.5", 0.5}, ScalarCase{"1.", 1.0},
                    ScalarCase{"1e3", 1000.0}, ScalarCase{"1E3", 1000.0},
                    ScalarCase{"1.5e-3", 0.0015}, ScalarCase{"6.02e+23", 6.02e23},
                    ScalarCase{"1_000.5", 1000.5},
                    // Version-like numbers are floats when unquoted, as kubectl reads them.
                    ScalarCase{"1.10", 1.1}, ScalarCase{"3.0", 3.0},
                    // "08" and "09" are no octal numbers, so Go reads them as floats.
                    ScalarCase{"08", 8.0}, ScalarCase{"09.5", 9.5},
                    // Past uint64: a float.
                    ScalarCase{"18446744073709551616", 18446744073709551616.0},
                    ScalarCase{"-9223372036854775809", -9223372036854775809.0}));

INSTANTIATE_TEST_SUITE_P(
    Strings, ScalarTest,
    testing::Values(ScalarCase{"hello", S("hello")}, ScalarCase{"1.2.3", S("1.2.3")},
                    ScalarCase{"v1.10", S("v1.10")}, ScalarCase{"1e", S("1e")},
                    ScalarCase{"e3", S("e3")}, ScalarCase{"0x", S("0x")},
                    ScalarCase{"0xZZ", S("0xZZ")}, ScalarCase{"0b102", S("0b102")},
                    ScalarCase{"_1", S("_1")}, ScalarCase{"+", S("+")}, ScalarCase{".", S(".")},
                    ScalarCase{"._5", S("._5")}, ScalarCase{".5_0", S(".5_0")},
                    ScalarCase{"1e400", S("1e400")}, ScalarCase{"0x1p3", S("0x1p3")},
                    ScalarCase{"inf", S("inf")}, ScalarCase{"nan", S("nan")},
                    ScalarCase{"Infinity", S("Infinity")}, ScalarCase{"12:30", S("12:30")},
                    ScalarCase{"100Mi", S("100Mi")}, ScalarCase{"500m", S("500m")},
                    ScalarCase{"+18446744073709551616x", S("+18446744073709551616x")},
                    // go-yaml turns unquoted timestamps into time.Time; we keep the text.
                    ScalarCase{"2001-12-14", S("2001-12-14")}));

INSTANTIATE_TEST_SUITE_P(
    QuotedAndTagged, ScalarTest,
    testing::Values(ScalarCase{"\"true\"", S("true")}, ScalarCase{"'yes'", S("yes")},
                    ScalarCase{"\"123\"", S("123")}, ScalarCase{"'1.10'", S("1.10")},
                    ScalarCase{"\"\"", S("")}, ScalarCase{"''", S("")},
                    ScalarCase{"\"null\"", S("null")}, ScalarCase{"'~'", S("~")},
                    ScalarCase{"!!str 42", S("42")}, ScalarCase{"!!str true", S("true")},
                    ScalarCase{"\"a\\tb\\u00e9\"", S("a\tb\xC3\xA9")},
                    ScalarCase{"'it''s'", S("it's")}, ScalarCase{"|\n  true\n", S("true\n")},
                    ScalarCase{">-\n  12\n", S("12")}));

TEST(YamlScalarTest, InfinityAndNan) {
  for (const char* t : {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"}) {
    json::value v = ValueOf(t);
    ASSERT_TRUE(v.is_double()) << t;
    EXPECT_TRUE(std::isinf(v.as_double()) && v.as_double() > 0) << t;
  }
  for (const char* t : {"-.inf", "-.Inf", "-.INF"}) {
    json::value v = ValueOf(t);
    ASSERT_TRUE(v.is_double()) << t;
    EXPECT_TRUE(std::isinf(v.as_double()) && v.as_double() < 0) << t;
  }
  for (const char* t : {".nan", ".NaN", ".NAN"}) {
    json::value v = ValueOf(t);
    ASSERT_TRUE(v.is_double()) << t;
    EXPECT_TRUE(std::isnan(v.as_double())) << t;
  }
  EXPECT_TRUE(ValueOf(".INf").is_string());
}

TEST(YamlScalarTest, ResolveYamlScalarDirectly) {
  EXPECT_EQ(ResolveYamlScalar("0x10"), json::value(16));
  EXPECT_EQ(ResolveYamlScalar("off"), json::value(false));
  EXPECT_TRUE(ResolveYamlScalar("").is_null());
  EXPECT_EQ(ResolveYamlScalar("<<"), json::value("<<"));
  EXPECT_EQ(ResolveYamlScalar("-"), json::value("-"));  // "v: -" would be a sequence entry
}

TEST(YamlScalarTest, KeysStayAsWritten) {
  auto v = ParseYaml("1: a\ntrue: b\n0x10: c\n\"q\": d\n");
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(Serialize(*v), R"({"1":"a","true":"b","0x10":"c","q":"d"})");
}

// --- Documents ---

TEST(YamlDocumentsTest, MultiDocumentStreamSkipsEmptyDocuments) {
  const std::string text =
      "---\n"
      "# only a comment\n"
      "---\n"
      "a: 1\n"
      "---\n"
      "---\n"
      "- x\n"
      "- z\n"
      "...\n"
      "---\n"
      "null\n"
      "---\n"
      "plain\n";
  auto docs = ParseYamlDocuments(text);
  ASSERT_TRUE(docs) << docs.error();
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_EQ(Serialize((*docs)[0].value), R"({"a":1})");
  EXPECT_EQ((*docs)[0].line, 4);
  EXPECT_EQ(Serialize((*docs)[1].value), R"(["x","z"])");
  EXPECT_EQ((*docs)[1].line, 7);
  EXPECT_EQ(Serialize((*docs)[2].value), R"("plain")");
}

TEST(YamlDocumentsTest, EmptyInput) {
  auto docs = ParseYamlDocuments("");
  ASSERT_TRUE(docs);
  EXPECT_TRUE(docs->empty());
  docs = ParseYamlDocuments("# nothing\n\n");
  ASSERT_TRUE(docs);
  EXPECT_TRUE(docs->empty());
  auto one = ParseYaml("");
  ASSERT_FALSE(one);
  EXPECT_THAT(one.error().message(), HasSubstr("found 0"));
}

TEST(YamlDocumentsTest, ParseYamlWantsExactlyOne) {
  auto v = ParseYaml("a: 1\n---\nb: 2\n");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(v.error().message(), HasSubstr("found 2"));
}

TEST(YamlDocumentsTest, JsonIsYaml) {
  auto v = ParseYaml(R"({"a": [1, 2.5, "x", true, null], "b": {"c": "1.10"}})");
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(Serialize(*v), R"({"a":[1,2.5,"x",true,null],"b":{"c":"1.10"}})");
}

TEST(YamlDocumentsTest, BlockScalars) {
  auto v = ParseYaml("lit: |\n  a\n   b\n\nfold: >\n  a\n  b\nstrip: |-\n  x\nkeep: |+\n  y\n\n");
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(v->at("lit").as_string(), "a\n b\n");
  EXPECT_EQ(v->at("fold").as_string(), "a b\n");
  EXPECT_EQ(v->at("strip").as_string(), "x");
  EXPECT_EQ(v->at("keep").as_string(), "y\n\n");
}

TEST(YamlDocumentsTest, AnchorsAndAliasesExpand) {
  auto v = ParseYaml("base: &b {x: 1}\nuse: *b\nlist: [&s str, *s]\n");
  ASSERT_TRUE(v) << v.error();
  EXPECT_EQ(Serialize(*v), R"({"base":{"x":1},"use":{"x":1},"list":["str","str"]})");
}

// --- Errors ---

TEST(YamlErrorsTest, ParseErrorNamesLineAndColumn) {
  auto v = ParseYamlDocuments("a: 1\nb: [1, 2\nc: 3\n");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(v.error().message(), testing::ContainsRegex("line [0-9]+ column [0-9]+"));

  v = ParseYamlDocuments("a: 1\n  b: 2\n");
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("line 2 column"));

  v = ParseYamlDocuments("a: 1\nb: \"unterminated\n");
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("invalid YAML"));
}

TEST(YamlErrorsTest, UnterminatedQuotesRejected) {
  // yaml-cpp alone would read this as a = "oops b: 2 c: 3" and lose b and c.
  for (const char* text : {"a: \"oops\nb: 2\nc: 3\n", "a: 'oops\nb: 2\n", "a: 1\nb: \"x\\\"\n",
                           "a: 'it''s\n", "\"key: 1\n", "a: !!str \"x\n", "a: &anc 'x\n"}) {
    auto v = ParseYamlDocuments(text);
    ASSERT_FALSE(v) << text;
    EXPECT_THAT(v.error().message(), HasSubstr("not closed")) << text;
  }
  // A document marker inside the open quote: yaml-cpp reports that itself.
  EXPECT_FALSE(ParseYamlDocuments("a: 1\n---\nb: \"open\n---\nc: 3\n"));
  auto v = ParseYamlDocuments("a: \"oops\nb: 2\n");
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("line 1 column 4"));
  // Closed quotes, including escaped quotes inside, are fine.
  auto ok = ParseYaml("a: \"say \\\"hi\\\"\"\nb: 'it''s'\nc: \"\\\\\"\n\xC3\xA9: \"\xC3\xA9\"\n");
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->at("a").as_string(), "say \"hi\"");
  EXPECT_EQ(ok->at("b").as_string(), "it's");
  EXPECT_EQ(ok->at("c").as_string(), "\\");
  auto bom = ParseYaml(
      "\xEF\xBB\xBF"
      "a: \"x\"\nb: 'y'\n");
  ASSERT_TRUE(bom) << bom.error();
  EXPECT_EQ(bom->at("b").as_string(), "y");
}

TEST(YamlErrorsTest, ErrorInLaterDocumentNamesItsLine) {
  auto v = ParseYamlDocuments("a: 1\n---\nb: 2\n---\nc: [\n");
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), testing::ContainsRegex("line [56]"));
}

TEST(YamlErrorsTest, DuplicateKeysRejected) {
  auto v = ParseYaml("metadata:\n  name: a\n  labels: {}\n  name: b\n");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(v.error().message(), HasSubstr("line 4"));
  EXPECT_THAT(v.error().message(), HasSubstr("duplicate key \"name\""));
  // Quoting does not make a key different.
  EXPECT_FALSE(ParseYaml("a: 1\n\"a\": 2\n"));
  EXPECT_FALSE(ParseYaml("{a: 1, a: 2}"));
}

TEST(YamlErrorsTest, MergeKeysRejected) {
  auto v = ParseYaml("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n");
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("line 3"));
  EXPECT_THAT(v.error().message(), HasSubstr("merge"));
  // A quoted "<<" is an ordinary key.
  auto quoted = ParseYaml("\"<<\": 1\n");
  ASSERT_TRUE(quoted) << quoted.error();
  EXPECT_EQ(quoted->at("<<").as_int64(), 1);
}

TEST(YamlErrorsTest, NonScalarKeysRejected) {
  auto v = ParseYaml("? [a, b]\n: 1\n");
  ASSERT_FALSE(v);
  EXPECT_THAT(v.error().message(), HasSubstr("keys must be strings"));
}

std::string NestedFlow(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string NestedBlock(int depth) {
  std::string out;
  for (int i = 0; i < depth; ++i) out += std::string(i * 2, ' ') + "k" + std::to_string(i) + ":\n";
  out += std::string(depth * 2, ' ') + "leaf\n";
  return out;
}

TEST(YamlErrorsTest, DepthLimitMatchesJson) {
  auto ok = ParseYaml(NestedFlow(kMaxJsonDepth));
  ASSERT_TRUE(ok) << ok.error();
  // Whatever YAML accepts also parses back as JSON.
  EXPECT_TRUE(ParseJson(Serialize(*ok)));
  auto deep = ParseYaml(NestedFlow(kMaxJsonDepth + 1));
  ASSERT_FALSE(deep);
  EXPECT_THAT(deep.error().message(), HasSubstr("deep"));
  EXPECT_TRUE(ParseYaml(NestedBlock(kMaxJsonDepth)));
  EXPECT_FALSE(ParseYaml(NestedBlock(kMaxJsonDepth + 1)));
  // Far deeper than yaml-cpp's own guard: a clean error, no stack overflow.
  auto very = ParseYaml(NestedFlow(20000));
  ASSERT_FALSE(very);
  EXPECT_EQ(very.error().code(), Code::kInvalidArgument);
}

TEST(YamlErrorsTest, RecursiveAliasRejected) {
  auto v = ParseYaml("a: &a [*a]\n");
  EXPECT_FALSE(v);
}

TEST(YamlErrorsTest, AliasBombRejected) {
  // "Billion laughs": nine levels of nine aliases would expand to 9^9 strings.
  std::string text = "l0: &l0 [\"lol\"]\n";
  for (int i = 1; i <= 9; ++i) {
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [";
    for (int j = 0; j < 9; ++j) text += (j ? ",*l" : "*l") + std::to_string(i - 1);
    text += "]\n";
  }
  auto v = ParseYaml(text);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(v.error().message(), HasSubstr("aliases"));
}

// --- Line map ---

TEST(YamlLinesTest, LineOfDottedAndPointerPaths) {
  const std::string text =
      "apiVersion: v1\n"                   // 1
      "kind: Pod\n"                        // 2
      "metadata:\n"                        // 3
      "  name: web\n"                      // 4
      "  labels:\n"                        // 5
      "    app.kubernetes.io/name: web\n"  // 6
      "spec:\n"                            // 7
      "  containers:\n"                    // 8
      "  - name: c0\n"                     // 9
      "    image: nginx\n"                 // 10
      "  - name: c1\n"                     // 11
      "    image: busybox\n";              // 12
  auto docs = ParseYamlDocuments(text);
  ASSERT_TRUE(docs) << docs.error();
  ASSERT_EQ(docs->size(), 1u);
  const YamlDocument& d = docs->front();
  EXPECT_EQ(d.line, 1);
  EXPECT_EQ(d.LineOf("kind"), 2);
  EXPECT_EQ(d.LineOf("metadata.name"), 4);
  EXPECT_EQ(d.LineOf("/metadata/name"), 4);
  EXPECT_EQ(d.LineOf("/metadata/labels/app.kubernetes.io~1name"), 6);
  EXPECT_EQ(d.LineOf("spec.containers"), 8);
  EXPECT_EQ(d.LineOf("spec.containers.0"), 9);
  EXPECT_EQ(d.LineOf("spec.containers.1.image"), 12);
  EXPECT_EQ(d.LineOf("/spec/containers/1/name"), 11);
  // Missing fields fall back to the nearest enclosing field that exists.
  EXPECT_EQ(d.LineOf("metadata.namespace"), 3);
  EXPECT_EQ(d.LineOf("spec.containers.1.resources.limits"), 11);
  EXPECT_EQ(d.LineOf("/spec/containers/7"), 8);
  EXPECT_EQ(d.LineOf("status.phase"), 1);
  EXPECT_EQ(d.LineOf(""), 1);
}

TEST(YamlLinesTest, LinesAreRelativeToTheStream) {
  auto docs = ParseYamlDocuments("a: 1\n---\n\nkind: X\nspec:\n  x: 1\n");
  ASSERT_TRUE(docs) << docs.error();
  ASSERT_EQ(docs->size(), 2u);
  const YamlDocument& d = (*docs)[1];
  EXPECT_EQ(d.line, 4);
  EXPECT_EQ(d.LineOf("spec.x"), 6);
  EXPECT_EQ(d.LineOf("spec.y"), 5);
  EXPECT_EQ(d.LineOf("nothing"), 4);
}

TEST(YamlLinesTest, EmptySequenceItemsUseTheirParentsLine) {
  // yaml-cpp places an empty item at the next token; better the parent's line than a wrong one.
  auto docs = ParseYamlDocuments("a: 1\nlist:\n-\n- x\n");
  ASSERT_TRUE(docs) << docs.error();
  const YamlDocument& d = docs->front();
  EXPECT_TRUE(Find(d.value, "list.0")->is_null());
  EXPECT_EQ(d.LineOf("list.0"), 2);
  EXPECT_EQ(d.LineOf("list.1"), 4);
}

TEST(YamlLinesTest, KeysWithSlashAndTilde) {
  auto docs = ParseYamlDocuments("a:\n  x/y~z: 1\n");
  ASSERT_TRUE(docs);
  EXPECT_EQ(docs->front().LineOf("/a/x~1y~0z"), 2);
  EXPECT_EQ(docs->front().LineOf("a.x/y~z"), 2);
}

// --- Realistic manifests ---

TEST(YamlManifestTest, Namespace) {
  auto docs = ParseYamlDocuments(R"(apiVersion: v1
kind: Namespace
metadata:
  name: kubeflow-user-example-com
  labels:
    app.kubernetes.io/part-of: kubeflow-profile
    istio-injection: enabled
    katib.kubeflow.org/metrics-collector-injection: enabled
    serving.kubeflow.org/inferenceservice: enabled
  annotations:
    owner: user@example.com
)");
  ASSERT_TRUE(docs) << docs.error();
  ASSERT_EQ(docs->size(), 1u);
  const json::value& v = docs->front().value;
  EXPECT_EQ(GetString(v, "kind"), "Namespace");
  EXPECT_EQ(GetString(v, "metadata.name"), "kubeflow-user-example-com");
  EXPECT_EQ(GetString(v, "/metadata/labels/istio-injection"), "enabled");
  EXPECT_EQ(GetString(v, "/metadata/labels/app.kubernetes.io~1part-of"), "kubeflow-profile");
  EXPECT_EQ(docs->front().LineOf("metadata.annotations.owner"), 11);
  // Round trip.
  auto back = ParseYaml(ToYaml(v));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, v);
}

constexpr const char* kInferenceService = R"(# A KServe predictor.
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: sklearn-iris
  namespace: kubeflow-user
  annotations:
    serving.kserve.io/deploymentMode: RawDeployment
    sidecar.istio.io/inject: "false"
spec:
  predictor:
    minReplicas: 1
    maxReplicas: 3
    scaleTarget: 80
    timeout: 60
    model:
      modelFormat:
        name: sklearn
        version: "1.3"
      runtimeVersion: 1.10
      storageUri: gs://kfserving-examples/models/sklearn/1.0/model
      protocolVersion: v2
      args: ["--workers", "2", --enable_docs_url=True]
      env:
      - name: STORAGE_CONCURRENCY
        value: "4"
      - name: DEBUG
        value: off
      resources:
        limits:
          cpu: 500m
          memory: 1Gi
          nvidia.com/gpu: 1
        requests:
          cpu: 0.5
          memory: 512Mi
)";

TEST(YamlManifestTest, InferenceService) {
  auto docs = ParseYamlDocuments(kInferenceService);
  ASSERT_TRUE(docs) << docs.error();
  ASSERT_EQ(docs->size(), 1u);
  const YamlDocument& d = docs->front();
  const json::value& v = d.value;
  EXPECT_EQ(d.line, 2);
  EXPECT_EQ(GetString(v, "apiVersion"), "serving.kserve.io/v1beta1");
  EXPECT_EQ(GetString(v, "/metadata/annotations/sidecar.istio.io~1inject"), "false");
  EXPECT_EQ(Find(v, "spec.predictor.minReplicas")->as_int64(), 1);
  EXPECT_EQ(GetString(v, "spec.predictor.model.modelFormat.version"), "1.3");
  // Unquoted, kubectl reads these as a float and a bool; the API would then reject them.
  EXPECT_DOUBLE_EQ(Find(v, "spec.predictor.model.runtimeVersion")->as_double(), 1.1);
  EXPECT_FALSE(Find(v, "spec.predictor.model.env.1.value")->as_bool());
  EXPECT_EQ(GetString(v, "spec.predictor.model.env.0.value"), "4");
  EXPECT_EQ(GetString(v, "spec.predictor.model.args.2"), "--enable_docs_url=True");
  EXPECT_EQ(GetString(v, "/spec/predictor/model/resources/limits/cpu"), "500m");
  EXPECT_EQ(Find(v, "/spec/predictor/model/resources/limits/nvidia.com~1gpu")->as_int64(), 1);
  EXPECT_DOUBLE_EQ(Find(v, "spec.predictor.model.resources.requests.cpu")->as_double(), 0.5);
  EXPECT_EQ(GetString(v, "spec.predictor.model.storageUri"),
            "gs://kfserving-examples/models/sklearn/1.0/model");
  EXPECT_EQ(d.LineOf("spec.predictor.model.runtimeVersion"), 20);
  EXPECT_EQ(d.LineOf("spec.predictor.model.env.1.value"), 28);
  EXPECT_EQ(d.LineOf("spec.predictor.model.env.1"), 27);
  EXPECT_EQ(d.LineOf("spec.predictor.model.resources.limits.memory"), 32);

  auto back = ParseYaml(ToYaml(v));
  ASSERT_TRUE(back) << back.error();
  EXPECT_EQ(*back, v);
}

// --- ToYaml ---

void ExpectRoundTrip(const json::value& v) {
  const std::string yaml = ToYaml(v);
  auto back = ParseYaml(yaml);
  ASSERT_TRUE(back) << "ToYaml output does not parse:\n" << yaml << "\n" << back.error();
  EXPECT_EQ(*back, v) << "ToYaml output:\n" << yaml << "reads back as " << Serialize(*back);
  // Also as a mapping value and as a sequence item, where quoting rules differ.
  json::value in_map = {{"k", v}};
  auto back_map = ParseYaml(ToYaml(in_map));
  ASSERT_TRUE(back_map) << ToYaml(in_map);
  EXPECT_EQ(*back_map, in_map) << ToYaml(in_map);
  json::value in_seq = json::array{v, "after"};
  auto back_seq = ParseYaml(ToYaml(in_seq));
  ASSERT_TRUE(back_seq) << ToYaml(in_seq);
  EXPECT_EQ(*back_seq, in_seq) << ToYaml(in_seq);
}

class YamlRoundTripStringTest : public testing::TestWithParam<std::string> {};

TEST_P(YamlRoundTripStringTest, StringStaysString) {
  ExpectRoundTrip(json::value(json::string(GetParam())));
  // And as a key.
  json::object o;
  o[GetParam()] = 1;
  ExpectRoundTrip(o);
}

INSTANTIATE_TEST_SUITE_P(LookAlikes, YamlRoundTripStringTest,
                         testing::Values("true", "false", "yes", "no", "on", "off", "y", "n", "Y",
                                         "N", "True", "NULL", "null", "~", "", "123", "-5", "+5",
                                         "0755", "0x1F", "0o17", "0b11", "1e3", "1.5", ".5", "1.10",
                                         "1_000", ".inf", "-.inf", ".nan", "<<", "08"));

INSTANTIATE_TEST_SUITE_P(Indicators, YamlRoundTripStringTest,
                         testing::Values("a: b", "key:", ":x", "- item", "-", "--", "---", "...",
                                         "...x", "#comment", "a #b", "a#b", "? q", "[a]", "{a}",
                                         "a, b", "&anchor", "*alias", "!tag", "|", ">", "'single'",
                                         "\"double\"", "%directive", "@at", "`tick`", " lead",
                                         "trail ", "\ttab", "tab\t", "a\tb", "a: \"b\"",
                                         "http://x:80/y?z#w", "C:\\path\\to", "back\\slash", "50%",
                                         "a'b", "a\"b", "x:y", "=", "==", "0:0", "- - x"));

INSTANTIATE_TEST_SUITE_P(MultiLineAndControl, YamlRoundTripStringTest,
                         testing::Values("line1\nline2", "line1\nline2\n", "line1\nline2\n\n",
                                         "\nstarts-empty\n", "  indented first\nsecond\n",
                                         "a\n  more indented\nb\n", "trailing space \nx\n",
                                         "tab\tinside\nx\n", "crlf\r\nline\r\n", "\n", "\n\n",
                                         "only\n", "a\n\n\nb\n", "a\n   \nb\n", "bell\x07",
                                         std::string("nul\0x", 5), "del\x7f", "esc\x1b[0m",
                                         "ls\xE2\x80\xA8x", "nel\xC2\x85x",
                                         "\xEF\xBB\xBF"
                                         "bom",
                                         "#!/bin/sh\necho hi\n", "key: value\n- item\n"));

INSTANTIATE_TEST_SUITE_P(Unicode, YamlRoundTripStringTest,
                         testing::Values("caf\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC",
                                         "emoji \xF0\x9F\x9A\x80", "\xC3\xA9: x",
                                         "\xE2\x80\x94"
                                         "dash"));

TEST(ToYamlTest, RoundTripsValues) {
  // A top-level null is an empty document, which the reader skips; null inside round-trips.
  EXPECT_EQ(ToYaml(nullptr), "null\n");
  ExpectRoundTrip(json::object{{"k", nullptr}});
  ExpectRoundTrip(json::array{nullptr});
  ExpectRoundTrip(true);
  ExpectRoundTrip(false);
  ExpectRoundTrip(0);
  ExpectRoundTrip(-42);
  ExpectRoundTrip(std::numeric_limits<int64_t>::min());
  ExpectRoundTrip(std::numeric_limits<uint64_t>::max());
  ExpectRoundTrip(1.0);
  ExpectRoundTrip(-0.5);
  ExpectRoundTrip(1.1);
  ExpectRoundTrip(1e21);
  ExpectRoundTrip(1e-7);
  ExpectRoundTrip(6.02214076e23);
  ExpectRoundTrip(json::object{});
  ExpectRoundTrip(json::array{});
  ExpectRoundTrip(json::array{json::array{}, json::object{}, nullptr});
  ExpectRoundTrip(
      json::value{{"a", json::array{{{"b", 1}, {"c", json::array{1, 2}}}, {{"d", json::object{}}}}},
                  {"e", {{"f", {{"g", "deep"}}}}}});
  ExpectRoundTrip(json::array{json::array{json::array{1}}, json::array{"x", json::array{}}});
}

TEST(ToYamlTest, NonFiniteFloats) {
  auto back = ParseYaml(ToYaml(json::array{std::numeric_limits<double>::infinity(),
                                           -std::numeric_limits<double>::infinity(),
                                           std::numeric_limits<double>::quiet_NaN()}));
  ASSERT_TRUE(back);
  const auto& a = back->as_array();
  EXPECT_TRUE(std::isinf(a[0].as_double()) && a[0].as_double() > 0);
  EXPECT_TRUE(std::isinf(a[1].as_double()) && a[1].as_double() < 0);
  EXPECT_TRUE(std::isnan(a[2].as_double()));
}

TEST(ToYamlTest, ReadableOutput) {
  json::value v = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", "cfg"}, {"labels", json::object{}}}},
                   {"data", {{"enabled", "true"}, {"script", "echo a\necho b\n"}}},
                   {"ratio", 0.5},
                   {"count", 3},
                   {"whole", 2.0},
                   {"none", nullptr},
                   {"items", json::array{"a", 1}}};
  EXPECT_EQ(ToYaml(v),
            "apiVersion: v1\n"
            "kind: ConfigMap\n"
            "metadata:\n"
            "  name: cfg\n"
            "  labels: {}\n"
            "data:\n"
            "  enabled: \"true\"\n"
            "  script: |\n"
            "    echo a\n"
            "    echo b\n"
            "ratio: 0.5\n"
            "count: 3\n"
            "whole: 2.0\n"
            "none: null\n"
            "items:\n"
            "  - a\n"
            "  - 1\n");
  EXPECT_EQ(ToYaml(json::value("x")), "x\n");
  EXPECT_EQ(ToYaml(json::object{}), "{}\n");
}

TEST(ToYamlTest, ParsedStreamsRoundTrip) {
  auto docs = ParseYamlDocuments(std::string(kInferenceService) +
                                 "---\napiVersion: v1\nkind: List\nitems: []\n");
  ASSERT_TRUE(docs);
  for (const auto& d : *docs) {
    auto back = ParseYaml(ToYaml(d.value));
    ASSERT_TRUE(back) << back.error();
    EXPECT_EQ(*back, d.value);
  }
}

}  // namespace
}  // namespace skiff

namespace skiff {
namespace {

// Strings built from the characters that matter to YAML's quoting rules, with a fixed seed:
// whatever ToYaml writes must read back as the same string, as a value and as a key.
TEST(ToYamlTest, GeneratedStringsRoundTrip) {
  const std::vector<std::string> pieces = {
      "a",   "Z",   " ",  ":",    ": ",   "#",  " #", "-", "- ",   "\n",          "\t", "\"",
      "'",   "\\",  "{",  "}",    "[",    "]",  ",",  "0", "1",    ".",           "e",  "y",
      "~",   "!",   "&",  "*",    "|",    ">",  "%",  "@", "`",    "?",           "\r", "\xC3\xA9",
      "---", "...", "<<", "null", "true", "0x", "_",  "+", "\x01", "\xE2\x80\xA8"};
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    const int n = static_cast<int>(next() % 7);
    for (int j = 0; j < n; ++j) s += pieces[next() % pieces.size()];
    json::value doc = {{"v", s}, {s, "k"}, {"list", json::array{s, s + "\n"}}};
    if (s.empty()) doc.as_object().erase("");
    const std::string yaml = ToYaml(doc);
    auto back = ParseYaml(yaml);
    ASSERT_TRUE(back) << Serialize(json::value(s)) << "\n" << yaml << back.error();
    ASSERT_EQ(*back, doc) << Serialize(json::value(s)) << "\n" << yaml;
  }
}

}  // namespace
}  // namespace skiff
