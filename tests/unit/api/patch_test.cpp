#include "api/patch.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "test_util.hpp"

namespace skiff::api {
namespace {

using ::testing::HasSubstr;
using testing::J;

// ---------------------------------------------------------------------------------------------
// JSON merge patch: every example of RFC 7386 Appendix A.

struct MergeCase {
  const char* original;
  const char* patch;
  const char* result;
};

void PrintTo(const MergeCase& c, std::ostream* os) { *os << c.original << " + " << c.patch; }

class MergePatchRfc7386 : public ::testing::TestWithParam<MergeCase> {};

TEST_P(MergePatchRfc7386, AppendixA) {
  const MergeCase& c = GetParam();
  EXPECT_EQ(ApplyMergePatch(J(c.original), J(c.patch)), J(c.result))
      << "original " << c.original << " patch " << c.patch;
}

INSTANTIATE_TEST_SUITE_P(
    AllVectors, MergePatchRfc7386,
    ::testing::Values(MergeCase{R"({"a":"b"})", R"({"a":"c"})", R"({"a":"c"})"},
                      MergeCase{R"({"a":"b"})", R"({"b":"c"})", R"({"a":"b","b":"c"})"},
                      MergeCase{R"({"a":"b"})", R"({"a":null})", R"({})"},
                      MergeCase{R"({"a":"b","b":"c"})", R"({"a":null})", R"({"b":"c"})"},
                      MergeCase{R"({"a":["b"]})", R"({"a":"c"})", R"({"a":"c"})"},
                      MergeCase{R"({"a":"c"})", R"({"a":["b"]})", R"({"a":["b"]})"},
                      MergeCase{R"({"a":{"b":"c"}})", R"({"a":{"b":"d","c":null}})",
                                R"({"a":{"b":"d"}})"},
                      MergeCase{R"({"a":[{"b":"c"}]})", R"({"a":[1]})", R"({"a":[1]})"},
                      MergeCase{R"(["a","b"])", R"(["c","d"])", R"(["c","d"])"},
                      MergeCase{R"({"a":"b"})", R"(["c"])", R"(["c"])"},
                      MergeCase{R"({"a":"foo"})", "null", "null"},
                      MergeCase{R"({"a":"foo"})", R"("bar")", R"("bar")"},
                      MergeCase{R"({"e":null})", R"({"a":1})", R"({"e":null,"a":1})"},
                      MergeCase{"[1,2]", R"({"a":"b","c":null})", R"({"a":"b"})"},
                      MergeCase{"{}", R"({"a":{"bb":{"ccc":null}}})", R"({"a":{"bb":{}}})"}));

// ---------------------------------------------------------------------------------------------
// Strategic merge patch.

// A schema in the shape of a Deployment's pod template: containers merge by name, ports by
// containerPort, finalizers are a merged primitive list, `args` has no strategy.
json::value PodSchema() {
  return J(R"({
    "type": "object",
    "properties": {
      "spec": {"type": "object", "properties": {
        "containers": {"type": "array",
          "x-kubernetes-patch-strategy": "merge",
          "x-kubernetes-patch-merge-key": "name",
          "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "image": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "ports": {"type": "array",
              "x-kubernetes-patch-strategy": "merge",
              "x-kubernetes-patch-merge-key": "containerPort",
              "items": {"type": "object"}}}}},
        "finalizers": {"type": "array", "x-kubernetes-patch-strategy": "merge",
          "items": {"type": "string"}},
        "tolerations": {"type": "array", "items": {"type": "object"}}}}
    }
  })");
}

json::value Smp(std::string_view target, std::string_view patch,
                const json::value& schema = json::value()) {
  auto r = ApplyStrategicMergePatch(J(target), J(patch), schema);
  EXPECT_TRUE(r) << r.error();
  return r ? *r : json::value("<error>");
}

TEST(StrategicMergePatch, MergesMapsRecursively) {
  EXPECT_EQ(Smp(R"({"metadata":{"labels":{"a":"1"},"name":"x"},"spec":{"n":1}})",
                R"({"metadata":{"labels":{"b":"2"}},"spec":{"m":2}})"),
            J(R"({"metadata":{"labels":{"a":"1","b":"2"},"name":"x"},"spec":{"n":1,"m":2}})"));
}

TEST(StrategicMergePatch, NullDeletesAField) {
  EXPECT_EQ(
      Smp(R"({"metadata":{"labels":{"a":"1","b":"2"}}})", R"({"metadata":{"labels":{"a":null}}})"),
      J(R"({"metadata":{"labels":{"b":"2"}}})"));
}

TEST(StrategicMergePatch, PatchReplaceDirectiveReplacesTheMap) {
  EXPECT_EQ(
      Smp(R"({"spec":{"a":1,"b":{"c":2}},"keep":true})", R"({"spec":{"$patch":"replace","z":3}})"),
      J(R"({"spec":{"z":3},"keep":true})"));
}

TEST(StrategicMergePatch, PatchDeleteDirectiveDeletesTheMap) {
  EXPECT_EQ(Smp(R"({"spec":{"a":1},"keep":true})", R"({"spec":{"$patch":"delete"}})"),
            J(R"({"keep":true})"));
}

TEST(StrategicMergePatch, PatchMergeDirectiveIsTheDefault) {
  EXPECT_EQ(Smp(R"({"spec":{"a":1}})", R"({"spec":{"$patch":"merge","b":2}})"),
            J(R"({"spec":{"a":1,"b":2}})"));
}

TEST(StrategicMergePatch, UnknownDirectiveIsAnError) {
  auto r = ApplyStrategicMergePatch(J(R"({"a":{}})"), J(R"({"a":{"$patch":"explode"}})"), {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr("explode"));
}

TEST(StrategicMergePatch, NonObjectPatchIsAnError) {
  EXPECT_FALSE(ApplyStrategicMergePatch(J("{}"), J("[1]"), {}));
  EXPECT_FALSE(ApplyStrategicMergePatch(J("{}"), J("\"x\""), {}));
}

TEST(StrategicMergePatch, RetainKeysDropsUnlistedFields) {
  EXPECT_EQ(Smp(R"({"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}})",
                R"({"strategy":{"$retainKeys":["type"],"type":"Recreate"}})"),
            J(R"({"strategy":{"type":"Recreate"}})"));
  // Keys listed but present in neither stay absent; the directive itself is not stored.
  EXPECT_EQ(Smp(R"({"s":{"a":1,"b":2,"c":3}})", R"({"s":{"$retainKeys":["a","d"],"d":4}})"),
            J(R"({"s":{"a":1,"d":4}})"));
}

TEST(StrategicMergePatch, RetainKeysMustBeAListOfStrings) {
  EXPECT_FALSE(ApplyStrategicMergePatch(J(R"({"s":{}})"), J(R"({"s":{"$retainKeys":"a"}})"), {}));
  EXPECT_FALSE(ApplyStrategicMergePatch(J(R"({"s":{}})"), J(R"({"s":{"$retainKeys":[1]}})"), {}));
}

TEST(StrategicMergePatch, SetElementOrderIsIgnored) {
  json::value out = Smp(R"({"spec":{"containers":[{"name":"a","image":"1"}]}})",
                        R"({"spec":{"$setElementOrder/containers":[{"name":"a"}],
                                    "containers":[{"name":"a","image":"2"}]}})",
                        PodSchema());
  EXPECT_EQ(out, J(R"({"spec":{"containers":[{"name":"a","image":"2"}]}})"));
}

TEST(StrategicMergePatch, DeleteFromPrimitiveList) {
  EXPECT_EQ(Smp(R"({"spec":{"finalizers":["a","b","c","b"]}})",
                R"({"spec":{"$deleteFromPrimitiveList/finalizers":["b"]}})"),
            J(R"({"spec":{"finalizers":["a","c"]}})"));
  // Must be a list.
  EXPECT_FALSE(ApplyStrategicMergePatch(J(R"({"f":["a"]})"),
                                        J(R"({"$deleteFromPrimitiveList/f":"a"})"), json::value()));
}

TEST(StrategicMergePatch, ListMergesByMergeKeyFromSchema) {
  json::value target = J(R"({"spec":{"containers":[
      {"name":"a","image":"a:1","args":["x"]},
      {"name":"b","image":"b:1"}]}})");
  json::value patch = J(R"({"spec":{"containers":[
      {"name":"b","image":"b:2"},
      {"name":"c","image":"c:1"}]}})");
  auto r = ApplyStrategicMergePatch(target, patch, PodSchema());
  ASSERT_TRUE(r) << r.error();
  // b updated in place (fields merged), c appended, a untouched.
  EXPECT_EQ(*r, J(R"({"spec":{"containers":[
      {"name":"a","image":"a:1","args":["x"]},
      {"name":"b","image":"b:2"},
      {"name":"c","image":"c:1"}]}})"));
}

TEST(StrategicMergePatch, ListItemPatchDeleteRemovesByKey) {
  auto r = ApplyStrategicMergePatch(
      J(R"({"spec":{"containers":[{"name":"a"},{"name":"b"},{"name":"c"}]}})"),
      J(R"({"spec":{"containers":[{"name":"b","$patch":"delete"},{"name":"zz","$patch":"delete"}]}})"),
      PodSchema());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, J(R"({"spec":{"containers":[{"name":"a"},{"name":"c"}]}})"));
}

TEST(StrategicMergePatch, NestedListsMergeWithTheItemSchema) {
  auto r = ApplyStrategicMergePatch(
      J(R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":80,"name":"http"}]}]}})"),
      J(R"({"spec":{"containers":[{"name":"a","ports":[{"containerPort":443}]}]}})"), PodSchema());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, J(R"({"spec":{"containers":[{"name":"a","ports":[
      {"containerPort":80,"name":"http"},{"containerPort":443}]}]}})"));
}

TEST(StrategicMergePatch, ListItemWithoutMergeKeyIsAnError) {
  auto r = ApplyStrategicMergePatch(J(R"({"spec":{"containers":[{"name":"a"}]}})"),
                                    J(R"({"spec":{"containers":[{"image":"x"}]}})"), PodSchema());
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("merge key"));
}

TEST(StrategicMergePatch, MergeKeyListIntoAbsentListDropsDirectives) {
  // No list yet: the patch's items become the list, but directive items must not be stored.
  auto r = ApplyStrategicMergePatch(
      J(R"({"spec":{}})"),
      J(R"({"spec":{"containers":[{"name":"a","image":"1"},{"name":"b","$patch":"delete"}]}})"),
      PodSchema());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, J(R"({"spec":{"containers":[{"name":"a","image":"1"}]}})"));
}

TEST(StrategicMergePatch, ListPatchReplaceDirectiveReplacesTheList) {
  // Kubernetes: a list item {"$patch": "replace"} replaces the whole list with the others.
  auto r = ApplyStrategicMergePatch(
      J(R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})"),
      J(R"({"spec":{"containers":[{"name":"c"},{"$patch":"replace"}]}})"), PodSchema());
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, J(R"({"spec":{"containers":[{"name":"c"}]}})"));
}

TEST(StrategicMergePatch, PrimitiveListWithMergeStrategyIsAUnion) {
  EXPECT_EQ(Smp(R"({"spec":{"finalizers":["a","b"]}})", R"({"spec":{"finalizers":["b","c"]}})",
                PodSchema()),
            J(R"({"spec":{"finalizers":["a","b","c"]}})"));
}

TEST(StrategicMergePatch, ListsWithoutStrategyAreReplaced) {
  // No schema at all: like JSON merge patch.
  EXPECT_EQ(Smp(R"({"spec":{"containers":[{"name":"a"},{"name":"b"}]}})",
                R"({"spec":{"containers":[{"name":"c"}]}})"),
            J(R"({"spec":{"containers":[{"name":"c"}]}})"));
  // A schema without a patch strategy for that list.
  EXPECT_EQ(Smp(R"({"spec":{"tolerations":[{"key":"a"}]}})",
                R"({"spec":{"tolerations":[{"key":"b"}]}})", PodSchema()),
            J(R"({"spec":{"tolerations":[{"key":"b"}]}})"));
  // Primitive list without strategy.
  EXPECT_EQ(Smp(R"({"spec":{"containers":[{"name":"a","args":["x","y"]}]}})",
                R"({"spec":{"containers":[{"name":"a","args":["z"]}]}})", PodSchema()),
            J(R"({"spec":{"containers":[{"name":"a","args":["z"]}]}})"));
}

TEST(StrategicMergePatch, SchemaAdditionalPropertiesCarryTheStrategy) {
  // A map of lists (additionalProperties), each merged by "name".
  json::value schema = J(R"({"type":"object","properties":{"m":{"type":"object",
      "additionalProperties":{"type":"array","x-kubernetes-patch-strategy":"merge",
                              "x-kubernetes-patch-merge-key":"name"}}}})");
  auto r = ApplyStrategicMergePatch(J(R"({"m":{"k":[{"name":"a","v":1}]}})"),
                                    J(R"({"m":{"k":[{"name":"b","v":2}]}})"), schema);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, J(R"({"m":{"k":[{"name":"a","v":1},{"name":"b","v":2}]}})"));
}

// ---------------------------------------------------------------------------------------------
// JSON patch: RFC 6902 Appendix A, then the edges.

struct JsonPatchCase {
  const char* name;
  const char* doc;
  const char* patch;
  const char* result;  // nullptr: the patch must fail
};

void PrintTo(const JsonPatchCase& c, std::ostream* os) { *os << c.name; }

class JsonPatchRfc6902 : public ::testing::TestWithParam<JsonPatchCase> {};

TEST_P(JsonPatchRfc6902, AppendixA) {
  const JsonPatchCase& c = GetParam();
  auto r = ApplyJsonPatch(J(c.doc), J(c.patch));
  if (c.result == nullptr) {
    ASSERT_FALSE(r) << c.name << " should fail, gave " << *r;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  } else {
    ASSERT_TRUE(r) << c.name << ": " << r.error();
    EXPECT_EQ(*r, J(c.result)) << c.name;
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllExamples, JsonPatchRfc6902,
    ::testing::Values(
        JsonPatchCase{"A1_AddObjectMember", R"({"foo":"bar"})",
                      R"([{"op":"add","path":"/baz","value":"qux"}])",
                      R"({"baz":"qux","foo":"bar"})"},
        JsonPatchCase{"A2_AddArrayElement", R"({"foo":["bar","baz"]})",
                      R"([{"op":"add","path":"/foo/1","value":"qux"}])",
                      R"({"foo":["bar","qux","baz"]})"},
        JsonPatchCase{"A3_RemoveObjectMember", R"({"baz":"qux","foo":"bar"})",
                      R"([{"op":"remove","path":"/baz"}])", R"({"foo":"bar"})"},
        JsonPatchCase{"A4_RemoveArrayElement", R"({"foo":["bar","qux","baz"]})",
                      R"([{"op":"remove","path":"/foo/1"}])", R"({"foo":["bar","baz"]})"},
        JsonPatchCase{"A5_ReplaceValue", R"({"baz":"qux","foo":"bar"})",
                      R"([{"op":"replace","path":"/baz","value":"boo"}])",
                      R"({"baz":"boo","foo":"bar"})"},
        JsonPatchCase{"A6_MoveValue",
                      R"({"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}})",
                      R"([{"op":"move","from":"/foo/waldo","path":"/qux/thud"}])",
                      R"({"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}})"},
        JsonPatchCase{"A7_MoveArrayElement", R"({"foo":["all","grass","cows","eat"]})",
                      R"([{"op":"move","from":"/foo/1","path":"/foo/3"}])",
                      R"({"foo":["all","cows","eat","grass"]})"},
        JsonPatchCase{"A8_TestSuccess", R"({"baz":"qux","foo":["a",2,"c"]})",
                      R"([{"op":"test","path":"/baz","value":"qux"},
                          {"op":"test","path":"/foo/1","value":2}])",
                      R"({"baz":"qux","foo":["a",2,"c"]})"},
        JsonPatchCase{"A9_TestError", R"({"baz":"qux"})",
                      R"([{"op":"test","path":"/baz","value":"bar"}])", nullptr},
        JsonPatchCase{"A10_AddNestedMemberObject", R"({"foo":"bar"})",
                      R"([{"op":"add","path":"/child","value":{"grandchild":{}}}])",
                      R"({"foo":"bar","child":{"grandchild":{}}})"},
        JsonPatchCase{"A11_IgnoreUnrecognizedElements", R"({"foo":"bar"})",
                      R"([{"op":"add","path":"/baz","value":"qux","xyz":123}])",
                      R"({"foo":"bar","baz":"qux"})"},
        JsonPatchCase{"A12_AddToNonexistentTarget", R"({"foo":"bar"})",
                      R"([{"op":"add","path":"/baz/bat","value":"qux"}])", nullptr},
        JsonPatchCase{"A14_EscapeOrdering", R"({"/":9,"~1":10})",
                      R"([{"op":"test","path":"/~01","value":10}])", R"({"/":9,"~1":10})"},
        JsonPatchCase{"A15_StringsAndNumbersDiffer", R"({"/":9,"~1":10})",
                      R"([{"op":"test","path":"/~01","value":"10"}])", nullptr},
        JsonPatchCase{"A16_AddArrayValue", R"({"foo":["bar"]})",
                      R"([{"op":"add","path":"/foo/-","value":["abc","def"]}])",
                      R"({"foo":["bar",["abc","def"]]})"},
        // Beyond the appendix.
        JsonPatchCase{"CopyValue", R"({"a":{"b":[1]}})",
                      R"([{"op":"copy","from":"/a/b","path":"/c"}])", R"({"a":{"b":[1]},"c":[1]})"},
        JsonPatchCase{"ReplaceWholeDocument", R"({"a":1})",
                      R"([{"op":"replace","path":"","value":{"b":2}}])", R"({"b":2})"},
        JsonPatchCase{"AddWholeDocument", R"({"a":1})", R"([{"op":"add","path":"","value":[1]}])",
                      "[1]"},
        JsonPatchCase{
            "SlashEscapedKey", R"({"metadata":{"labels":{"app.kubernetes.io/name":"x"}}})",
            R"([{"op":"replace","path":"/metadata/labels/app.kubernetes.io~1name","value":"y"}])",
            R"({"metadata":{"labels":{"app.kubernetes.io/name":"y"}}})"},
        JsonPatchCase{"TestNumbersNumerically", R"({"n":1})",
                      R"([{"op":"test","path":"/n","value":1.0}])", R"({"n":1})"},
        JsonPatchCase{"ReplaceMissingFails", R"({"a":1})",
                      R"([{"op":"replace","path":"/b","value":2}])", nullptr},
        JsonPatchCase{"RemoveMissingFails", R"({"a":1})", R"([{"op":"remove","path":"/b"}])",
                      nullptr},
        JsonPatchCase{"IndexOutOfRangeFails", R"({"a":[1]})",
                      R"([{"op":"add","path":"/a/2","value":2}])", nullptr},
        JsonPatchCase{"LeadingZeroIndexFails", R"({"a":[1,2]})",
                      R"([{"op":"remove","path":"/a/01"}])", nullptr},
        JsonPatchCase{"DashOnlyForAdd", R"({"a":[1,2]})", R"([{"op":"remove","path":"/a/-"}])",
                      nullptr},
        JsonPatchCase{"MoveIntoOwnChildFails", R"({"a":{"b":1}})",
                      R"([{"op":"move","from":"/a","path":"/a/c"}])", nullptr},
        JsonPatchCase{"UnknownOpFails", R"({})", R"([{"op":"frobnicate","path":"/a"}])", nullptr},
        JsonPatchCase{"MissingValueFails", R"({})", R"([{"op":"add","path":"/a"}])", nullptr},
        JsonPatchCase{"MissingFromFails", R"({"a":1})", R"([{"op":"copy","path":"/b"}])", nullptr},
        JsonPatchCase{"BadEscapeFails", R"({"a":1})", R"([{"op":"remove","path":"/~2"}])", nullptr},
        JsonPatchCase{"PointerWithoutSlashFails", R"({"a":1})", R"([{"op":"remove","path":"a"}])",
                      nullptr},
        JsonPatchCase{"NotAnArrayFails", R"({"a":1})", R"({"op":"remove","path":"/a"})", nullptr}),
    [](const ::testing::TestParamInfo<JsonPatchCase>& info) { return info.param.name; });

TEST(JsonPatch, ErrorNamesTheFailingOperationIndex) {
  auto r = ApplyJsonPatch(J(R"({"a":1})"), J(R"([{"op":"add","path":"/b","value":2},
                                                  {"op":"test","path":"/a","value":1},
                                                  {"op":"remove","path":"/zzz"}])"));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("operation 2"));
  EXPECT_THAT(r.error().message(), HasSubstr("zzz"));
}

TEST(JsonPatch, FailingTestAbortsTheWholePatch) {
  // The add before the failing test must not leak out: the result is an error, not a partial
  // document.
  auto r = ApplyJsonPatch(J(R"({"a":1})"), J(R"([{"op":"add","path":"/b","value":2},
                                                  {"op":"test","path":"/a","value":5}])"));
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("operation 1"));
  EXPECT_THAT(r.error().message(), HasSubstr("test failed"));
}

TEST(JsonPatch, AppendWithDash) {
  auto r = ApplyJsonPatch(J(R"({"a":[1,2]})"), J(R"([{"op":"add","path":"/a/-","value":3},
                                                      {"op":"add","path":"/a/-","value":4}])"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, J(R"({"a":[1,2,3,4]})"));
}

TEST(JsonPatch, OperationsApplyInSequence) {
  auto r = ApplyJsonPatch(J(R"({"metadata":{"labels":{"a":"1"}}})"),
                          J(R"([{"op":"add","path":"/metadata/labels/b","value":"2"},
                                {"op":"copy","from":"/metadata/labels/b","path":"/metadata/labels/c"},
                                {"op":"remove","path":"/metadata/labels/a"},
                                {"op":"test","path":"/metadata/labels","value":{"b":"2","c":"2"}}])"));
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, J(R"({"metadata":{"labels":{"b":"2","c":"2"}}})"));
}

TEST(JsonPatch, TargetIsNotModified) {
  const json::value target = J(R"({"a":[1]})");
  auto r = ApplyJsonPatch(target, J(R"([{"op":"add","path":"/a/0","value":0}])"));
  ASSERT_TRUE(r);
  EXPECT_EQ(target, J(R"({"a":[1]})"));
}

// ---------------------------------------------------------------------------------------------
// CreateMergePatch and the three-way patch of kubectl apply.

TEST(CreateMergePatch, DiffsRecursivelyWithNullDeletions) {
  EXPECT_EQ(CreateMergePatch(J(R"({"a":1,"b":{"c":2,"d":3},"l":[1]})"),
                             J(R"({"a":1,"b":{"c":4},"e":5,"l":[1,2]})")),
            J(R"({"b":{"c":4,"d":null},"e":5,"l":[1,2]})"));
  EXPECT_EQ(CreateMergePatch(J(R"({"a":{"b":1}})"), J(R"({"a":{"b":1}})")), J("{}"));
  EXPECT_EQ(CreateMergePatch(J(R"({"a":{"b":1}})"), J(R"({"a":"s"})")), J(R"({"a":"s"})"));
  EXPECT_EQ(CreateMergePatch(J(R"({"a":1})"), J("[1]")), J("[1]"));
}

TEST(CreateMergePatch, RoundTripsThroughApplyMergePatch) {
  const std::pair<const char*, const char*> pairs[] = {
      {R"({})", R"({"a":{"b":{"c":[1,2]}}})"},
      {R"({"a":{"b":{"c":[1,2]}}})", R"({})"},
      {R"({"x":"1","y":{"z":true}})", R"({"x":2,"y":{"w":false}})"},
      {R"({"spec":{"replicas":3,"template":{"a":1}}})", R"({"spec":{"replicas":4}})"},
  };
  for (const auto& [from, to] : pairs) {
    json::value patch = CreateMergePatch(J(from), J(to));
    EXPECT_EQ(ApplyMergePatch(J(from), patch), J(to)) << from << " -> " << to;
  }
}

TEST(ThreeWayMergePatch, LabelRemovedFromManifestIsDeleted) {
  json::value original = J(R"({"metadata":{"name":"x","labels":{"a":"1","b":"2"}}})");
  json::value modified = J(R"({"metadata":{"name":"x","labels":{"a":"1"}}})");
  json::value current =
      J(R"({"metadata":{"name":"x","uid":"u","labels":{"a":"1","b":"2"}},"status":{"p":1}})");
  json::value patch = CreateThreeWayMergePatch(original, modified, current);
  EXPECT_EQ(patch, J(R"({"metadata":{"labels":{"b":null}}})"));
  EXPECT_EQ(ApplyMergePatch(current, patch),
            J(R"({"metadata":{"name":"x","uid":"u","labels":{"a":"1"}},"status":{"p":1}})"));
}

TEST(ThreeWayMergePatch, FieldAddedBySomeoneElseIsKept) {
  json::value original = J(R"({"metadata":{"labels":{"a":"1"}}})");
  json::value modified = J(R"({"metadata":{"labels":{"a":"1"}}})");
  json::value current = J(R"({"metadata":{"labels":{"a":"1","other":"x"}}})");
  json::value patch = CreateThreeWayMergePatch(original, modified, current);
  EXPECT_EQ(patch, J("{}"));
  EXPECT_EQ(ApplyMergePatch(current, patch), current);
}

TEST(ThreeWayMergePatch, UnchangedManifestGivesAnEmptyPatch) {
  json::value manifest = J(R"({"apiVersion":"v1","kind":"Namespace",
                               "metadata":{"name":"x","labels":{"a":"1"}}})");
  json::value current = J(R"({"apiVersion":"v1","kind":"Namespace",
                              "metadata":{"name":"x","labels":{"a":"1"},"uid":"u",
                                          "resourceVersion":"7"},
                              "spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}})");
  EXPECT_EQ(CreateThreeWayMergePatch(manifest, manifest, current), J("{}"));
}

TEST(ThreeWayMergePatch, ChangedAndNewFieldsAreSetAndDriftIsRepaired) {
  json::value original = J(R"({"spec":{"replicas":3,"image":"a:1"}})");
  json::value modified = J(R"({"spec":{"replicas":3,"image":"a:2","port":80}})");
  // Someone scaled to 5: apply puts the manifest's 3 back, as kubectl does.
  json::value current = J(R"({"spec":{"replicas":5,"image":"a:1","extra":true}})");
  json::value patch = CreateThreeWayMergePatch(original, modified, current);
  EXPECT_EQ(patch, J(R"({"spec":{"replicas":3,"image":"a:2","port":80}})"));
  EXPECT_EQ(ApplyMergePatch(current, patch),
            J(R"({"spec":{"replicas":3,"image":"a:2","port":80,"extra":true}})"));
}

TEST(ThreeWayMergePatch, FirstApplyWithoutOriginalOnlyAdds) {
  json::value patch =
      CreateThreeWayMergePatch(json::value(), J(R"({"metadata":{"labels":{"a":"1"}}})"),
                               J(R"({"metadata":{"labels":{"b":"2"}}})"));
  EXPECT_EQ(patch, J(R"({"metadata":{"labels":{"a":"1"}}})"));
}

TEST(ThreeWayMergePatch, WholeSectionRemovedAndAnotherChanged) {
  json::value original = J(R"({"metadata":{"labels":{"a":"1"},"annotations":{"n":"1"}}})");
  json::value modified = J(R"({"metadata":{"labels":{"a":"2"}}})");
  json::value current = J(R"({"metadata":{"labels":{"a":"1"},"annotations":{"n":"1"}}})");
  json::value patch = CreateThreeWayMergePatch(original, modified, current);
  EXPECT_EQ(patch, J(R"({"metadata":{"annotations":null,"labels":{"a":"2"}}})"));
}

}  // namespace
}  // namespace skiff::api
