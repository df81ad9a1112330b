#include "api/validation.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "test_util.hpp"

namespace skiff::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::J;
using testing::JO;
using ::testing::UnorderedElementsAre;

struct NameCase {
  std::string value;
  bool valid;
  const char* why;  // substring of the error when invalid
};

// A DNS-1123 label of `n` characters.
std::string Label(size_t n) { return std::string(n, 'a'); }

// ---------------------------------------------------------------------------------------------
// Names.

TEST(Dns1123Label, Table) {
  const NameCase cases[] = {
      {"a", true, ""},
      {"abc", true, ""},
      {"a-b", true, ""},
      {"0", true, ""},
      {"123-abc", true, ""},
      {"a--b", true, ""},
      {Label(63), true, ""},
      {Label(64), false, "no more than 63 characters"},
      {"", false, "RFC 1123 label"},
      {"Abc", false, "lower case"},
      {"aBc", false, "lower case"},
      {"-a", false, "start and end with an alphanumeric"},
      {"a-", false, "start and end with an alphanumeric"},
      {"a.b", false, "RFC 1123 label"},
      {"a_b", false, "RFC 1123 label"},
      {"a b", false, "RFC 1123 label"},
  };
  for (const auto& c : cases) {
    std::string e = CheckDns1123Label(c.value);
    if (c.valid) {
      EXPECT_EQ(e, "") << '"' << c.value << '"';
    } else {
      EXPECT_THAT(e, HasSubstr(c.why)) << '"' << c.value << '"';
    }
  }
}

TEST(Dns1123Subdomain, Table) {
  std::string max = Label(63) + "." + Label(63) + "." + Label(63) + "." + Label(61);  // 253
  ASSERT_EQ(max.size(), 253u);
  const NameCase cases[] = {
      {"a", true, ""},
      {"example.com", true, ""},
      {"a.b.c", true, ""},
      {"my-app.v1", true, ""},
      {"1.2.3", true, ""},
      {max, true, ""},
      {max + "a", false, "no more than 253 characters"},
      {"", false, "RFC 1123 subdomain"},
      {"Example.com", false, "RFC 1123 subdomain"},
      {".a", false, "RFC 1123 subdomain"},
      {"a.", false, "RFC 1123 subdomain"},
      {"a..b", false, "RFC 1123 subdomain"},
      {"-a.b", false, "RFC 1123 subdomain"},
      {"a.-b", false, "RFC 1123 subdomain"},
      {"a_b.c", false, "RFC 1123 subdomain"},
  };
  for (const auto& c : cases) {
    std::string e = CheckDns1123Subdomain(c.value);
    if (c.valid) {
      EXPECT_EQ(e, "") << '"' << c.value << '"';
    } else {
      EXPECT_THAT(e, HasSubstr(c.why)) << '"' << c.value << '"';
    }
  }
}

TEST(LabelKey, Table) {
  const NameCase cases[] = {
      {"app", true, ""},
      {"App_Name.v-1", true, ""},
      {"app.kubernetes.io/name", true, ""},
      {"example.com/My_Key.1", true, ""},
      {"a/b", true, ""},
      {Label(63), true, ""},
      {"example.com/" + Label(63), true, ""},
      {"", false, "name part must be non-empty"},
      {"/name", false, "prefix part must be non-empty"},
      {"example.com/", false, "name part must be non-empty"},
      {"Example.com/x", false, "prefix part"},
      {"exa_mple.com/x", false, "prefix part"},
      {Label(254) + "/x", false, "prefix part must be no more than 253 characters"},
      {Label(64), false, "no more than 63 characters"},
      {"-app", false, "start and end with an alphanumeric"},
      {"app-", false, "start and end with an alphanumeric"},
      {"a b", false, "alphanumeric characters"},
      {"a/b/c", false, "alphanumeric characters"},
  };
  for (const auto& c : cases) {
    std::string e = CheckLabelKey(c.value);
    if (c.valid) {
      EXPECT_EQ(e, "") << '"' << c.value << '"';
    } else {
      EXPECT_THAT(e, HasSubstr(c.why)) << '"' << c.value << '"';
    }
  }
}

TEST(LabelValue, Table) {
  const NameCase cases[] = {
      {"", true, ""},
      {"v1", true, ""},
      {"V1.2_3-x", true, ""},
      {Label(63), true, ""},
      {Label(64), false, "no more than 63 characters"},
      {"-x", false, "start and end with an alphanumeric"},
      {"x.", false, "start and end with an alphanumeric"},
      {"a b", false, "valid label"},
      {"a/b", false, "valid label"},
  };
  for (const auto& c : cases) {
    std::string e = CheckLabelValue(c.value);
    if (c.valid) {
      EXPECT_EQ(e, "") << '"' << c.value << '"';
    } else {
      EXPECT_THAT(e, HasSubstr(c.why)) << '"' << c.value << '"';
    }
  }
}

// ---------------------------------------------------------------------------------------------
// ValidateMetadata.

KindInfo LabelNamedKind() {
  KindInfo k;
  k.version = "v1";
  k.kind = "Namespace";
  k.plural = "namespaces";
  k.namespaced = false;
  k.name_is_label = true;
  return k;
}

KindInfo SubdomainNamedKind() {
  KindInfo k;
  k.version = "v1";
  k.kind = "Widget";
  k.plural = "widgets";
  return k;
}

TEST(ValidateMetadata, ValidObjectHasNoErrors) {
  EXPECT_THAT(
      ValidateMetadata(LabelNamedKind(), JO(R"({"metadata":{"name":"team-a","labels":{"app":"x",
                                      "app.kubernetes.io/part-of":""},
                                      "annotations":{"example.com/note":"any text at all"}}})")),
      IsEmpty());
}

TEST(ValidateMetadata, MissingName) {
  FieldErrors errs = ValidateMetadata(LabelNamedKind(), JO(R"({"metadata":{}})"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].type, FieldError::Type::kRequired);
  EXPECT_EQ(errs[0].field, "metadata.name");
  EXPECT_EQ(FormatFieldError(errs[0]),
            "metadata.name: Required value: name or generateName is required");
  EXPECT_EQ(FieldErrorReason(errs[0].type), "FieldValueRequired");
  // No metadata at all.
  EXPECT_EQ(ValidateMetadata(LabelNamedKind(), JO("{}")).size(), 1u);
}

TEST(ValidateMetadata, BadNameFollowsTheKindsRule) {
  FieldErrors errs = ValidateMetadata(LabelNamedKind(), JO(R"({"metadata":{"name":"Team_A"}})"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].type, FieldError::Type::kInvalid);
  EXPECT_EQ(errs[0].field, "metadata.name");
  ASSERT_TRUE(errs[0].bad_value.has_value());
  EXPECT_EQ(*errs[0].bad_value, json::value("Team_A"));
  EXPECT_THAT(FormatFieldError(errs[0]),
              HasSubstr("metadata.name: Invalid value: \"Team_A\": a lowercase RFC 1123 label"));
  EXPECT_EQ(FieldErrorReason(errs[0].type), "FieldValueInvalid");

  // Dots: not a label, but a subdomain.
  EXPECT_EQ(ValidateMetadata(LabelNamedKind(), JO(R"({"metadata":{"name":"a.b"}})")).size(), 1u);
  EXPECT_THAT(ValidateMetadata(SubdomainNamedKind(), JO(R"({"metadata":{"name":"a.b"}})")),
              IsEmpty());
}

TEST(ValidateMetadata, BadLabelKeyAndValue) {
  FieldErrors errs = ValidateMetadata(
      SubdomainNamedKind(),
      JO(R"({"metadata":{"name":"x","labels":{"bad key":"ok","good":"bad value!"}}})"));
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_EQ(errs[0].field, "metadata.labels");
  EXPECT_EQ(*errs[0].bad_value, json::value("bad key"));
  EXPECT_EQ(errs[1].field, "metadata.labels");
  EXPECT_EQ(*errs[1].bad_value, json::value("bad value!"));
}

TEST(ValidateMetadata, BadAnnotationKeyAndTooLargeAnnotations) {
  FieldErrors errs = ValidateMetadata(
      SubdomainNamedKind(), JO(R"({"metadata":{"name":"x","annotations":{"-bad":"v"}}})"));
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].field, "metadata.annotations");

  json::object obj = JO(R"({"metadata":{"name":"x","annotations":{}}})");
  obj["metadata"].as_object()["annotations"].as_object()["big"] = std::string(256 * 1024 + 1, 'x');
  errs = ValidateMetadata(SubdomainNamedKind(), obj);
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].type, FieldError::Type::kTooLong);
  EXPECT_EQ(FieldErrorReason(errs[0].type), "FieldValueTooLong");
}

TEST(ValidateMetadata, FormatFieldErrorWithoutValueOrDetail) {
  EXPECT_EQ(FormatFieldError({FieldError::Type::kForbidden, "spec.x", "", {}}),
            "spec.x: Forbidden");
  EXPECT_EQ(FormatFieldError({FieldError::Type::kDuplicate, "spec.x", "d", json::value(3)}),
            "spec.x: Duplicate value: 3: d");
}

// ---------------------------------------------------------------------------------------------
// fieldValidation and CheckSchema.

TEST(ParseFieldValidation, Values) {
  EXPECT_EQ(*ParseFieldValidation(""), FieldValidation::kWarn);
  EXPECT_EQ(*ParseFieldValidation("Warn"), FieldValidation::kWarn);
  EXPECT_EQ(*ParseFieldValidation("Strict"), FieldValidation::kStrict);
  EXPECT_EQ(*ParseFieldValidation("Ignore"), FieldValidation::kIgnore);
  auto bad = ParseFieldValidation("strict");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), Code::kInvalidArgument);
}

KindInfo SchemaKind() {
  KindInfo k = SubdomainNamedKind();
  k.schema = J(R"({
    "type": "object",
    "properties": {
      "apiVersion": {"type": "string"}, "kind": {"type": "string"},
      "metadata": {"type": "object"},
      "spec": {"type": "object", "properties": {
        "replicas": {"type": "integer"},
        "name": {"type": "string"},
        "ratio": {"type": "number"},
        "enabled": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "nested": {"type": "object", "properties": {"a": {"type": "string"}}},
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "anything": {"type": "object", "additionalProperties": true},
        "port": {"x-kubernetes-int-or-string": true},
        "items": {"type": "array", "items": {"type": "object",
                  "properties": {"n": {"type": "string"}}}}}},
      "status": {"type": "object", "properties": {"phase": {"type": "string"}}}
    }
  })");
  return k;
}

constexpr std::string_view kWithUnknowns = R"({
  "apiVersion": "v1", "kind": "Widget",
  "metadata": {"name": "w", "bogus": 1},
  "foo": 1,
  "spec": {"replicas": 2, "nested": {"a": "x", "zzz": true}, "items": [{"n": "a", "q": 1}],
           "free": {"whatever": {"deep": [1]}}, "env": {"A": "1"}, "anything": {"k": [true]}},
  "status": {"phase": "Ready", "extra": "x"}
})";

TEST(CheckSchema, StrictReportsUnknownFieldsWithPathsAndKeepsThem) {
  json::object obj = JO(kWithUnknowns);
  const json::object before = obj;
  SchemaCheck c = CheckSchema(SchemaKind(), obj, FieldValidation::kStrict);
  EXPECT_THAT(c.type_errors, IsEmpty());
  EXPECT_THAT(c.unknown_fields, UnorderedElementsAre("metadata.bogus", "foo", "spec.nested.zzz",
                                                     "spec.items[0].q", "status.extra"));
  EXPECT_EQ(obj, before);  // Strict rejects; nothing to prune
}

TEST(CheckSchema, WarnReportsAndPrunes) {
  json::object obj = JO(kWithUnknowns);
  SchemaCheck c = CheckSchema(SchemaKind(), obj, FieldValidation::kWarn);
  EXPECT_THAT(c.type_errors, IsEmpty());
  EXPECT_EQ(c.unknown_fields.size(), 5u);
  EXPECT_EQ(obj, JO(R"({
    "apiVersion": "v1", "kind": "Widget",
    "metadata": {"name": "w"},
    "spec": {"replicas": 2, "nested": {"a": "x"}, "items": [{"n": "a"}],
             "free": {"whatever": {"deep": [1]}}, "env": {"A": "1"}, "anything": {"k": [true]}},
    "status": {"phase": "Ready"}
  })"));
}

TEST(CheckSchema, IgnorePrunesToo) {
  json::object obj = JO(kWithUnknowns);
  SchemaCheck c = CheckSchema(SchemaKind(), obj, FieldValidation::kIgnore);
  EXPECT_THAT(c.type_errors, IsEmpty());
  EXPECT_FALSE(obj.contains("foo"));
  EXPECT_FALSE(obj["spec"].as_object()["nested"].as_object().contains("zzz"));
  EXPECT_FALSE(obj["metadata"].as_object().contains("bogus"));
}

TEST(CheckSchema, TypeErrorsAreAlwaysReported) {
  for (FieldValidation mode :
       {FieldValidation::kStrict, FieldValidation::kWarn, FieldValidation::kIgnore}) {
    json::object obj = JO(R"({
      "apiVersion": 1,
      "metadata": {"name": "w", "labels": {"a": 1}, "generation": "x"},
      "spec": {"replicas": "3", "name": 5, "ratio": "x", "enabled": "yes",
               "tags": ["a", 5], "nested": [], "env": {"A": 1}, "items": [{"n": 2}]}
    })");
    SchemaCheck c = CheckSchema(SchemaKind(), obj, mode);
    EXPECT_THAT(
        c.type_errors,
        UnorderedElementsAre(
            "apiVersion: expected string", "metadata.labels.a: expected string, got integer",
            "metadata.generation: expected integer, got string",
            "spec.replicas: expected integer, got string",
            "spec.name: expected string, got integer", "spec.ratio: expected number, got string",
            "spec.enabled: expected boolean, got string",
            "spec.tags[1]: expected string, got integer", "spec.nested: expected object, got array",
            "spec.env.A: expected string, got integer",
            "spec.items[0].n: expected string, got integer"));
  }
}

TEST(CheckSchema, NumbersAndNulls) {
  json::object ok = JO(R"({"spec": {"replicas": 3.0, "ratio": 1, "name": null, "tags": null}})");
  EXPECT_THAT(CheckSchema(SchemaKind(), ok, FieldValidation::kStrict).type_errors, IsEmpty());
  json::object frac = JO(R"({"spec": {"replicas": 2.5}})");
  EXPECT_THAT(CheckSchema(SchemaKind(), frac, FieldValidation::kStrict).type_errors,
              ElementsAre("spec.replicas: expected integer, got number"));
  json::object huge = JO(R"({"spec": {"replicas": 1e300}})");
  EXPECT_THAT(CheckSchema(SchemaKind(), huge, FieldValidation::kStrict).type_errors,
              ElementsAre("spec.replicas: expected integer, got number"));
}

TEST(CheckSchema, IntOrString) {
  for (const char* good : {R"({"spec":{"port":80}})", R"({"spec":{"port":"http"}})",
                           R"({"spec":{"port":"50%"}})", R"({"spec":{"port":null}})"}) {
    json::object obj = JO(good);
    EXPECT_THAT(CheckSchema(SchemaKind(), obj, FieldValidation::kStrict).type_errors, IsEmpty())
        << good;
  }
  for (const char* bad : {R"({"spec":{"port":true}})", R"({"spec":{"port":1.5}})",
                          R"({"spec":{"port":{}}})", R"({"spec":{"port":[80]}})"}) {
    json::object obj = JO(bad);
    SchemaCheck c = CheckSchema(SchemaKind(), obj, FieldValidation::kStrict);
    ASSERT_EQ(c.type_errors.size(), 1u) << bad;
    EXPECT_THAT(c.type_errors[0], HasSubstr("spec.port: expected an integer or a string")) << bad;
  }
}

TEST(CheckSchema, KindWithoutSchemaAcceptsAnyFieldButChecksMetadata) {
  KindInfo k = SubdomainNamedKind();  // schema null
  json::object obj = JO(R"({"whatever": {"x": 1}, "metadata": {"name": "x", "nope": 1}})");
  SchemaCheck c = CheckSchema(k, obj, FieldValidation::kWarn);
  EXPECT_THAT(c.unknown_fields, ElementsAre("metadata.nope"));
  EXPECT_TRUE(obj.contains("whatever"));
  EXPECT_FALSE(obj["metadata"].as_object().contains("nope"));
}

TEST(CheckSchema, RootPreserveUnknownFieldsIsHonoured) {
  KindInfo k = SubdomainNamedKind();
  k.schema = J(R"({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                   "properties": {"spec": {"type": "object",
                                           "properties": {"n": {"type": "integer"}}}}})");
  json::object obj = JO(R"({"extra": 1, "spec": {"n": "x", "unknown": 1}})");
  SchemaCheck c = CheckSchema(k, obj, FieldValidation::kStrict);
  EXPECT_THAT(c.unknown_fields, ElementsAre("spec.unknown"));
  EXPECT_THAT(c.type_errors, ElementsAre("spec.n: expected integer, got string"));
}

TEST(CheckSchema, MetadataIsCheckedAgainstObjectMetaWhateverTheKindSays) {
  // The kind's schema says only {"type":"object"} for metadata; ObjectMeta still applies.
  json::object obj = JO(R"({"metadata": {"name": "x", "ownerReferences": [{"any": 1}],
                                         "finalizers": ["a"], "labels": {"k": "v"},
                                         "managedFields": [{"m": 1}]}})");
  SchemaCheck c = CheckSchema(SchemaKind(), obj, FieldValidation::kStrict);
  EXPECT_THAT(c.unknown_fields, IsEmpty());
  EXPECT_THAT(c.type_errors, IsEmpty());
  json::object bad = JO(R"({"metadata": "x"})");
  EXPECT_THAT(CheckSchema(SchemaKind(), bad, FieldValidation::kStrict).type_errors,
              ElementsAre("metadata: expected object, got string"));
}

}  // namespace
}  // namespace skiff::api
