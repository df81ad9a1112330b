// CRUD, patches, selectors, tables, dry runs and cascading deletes through ResourceApi::Handle.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "api_fixture.hpp"

namespace skiff::api {
namespace {

using testing::ApiTest;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::J;
using testing::kTableAccept;
using testing::Reply;
using ::testing::StartsWith;

class ResourceApiTest : public ApiTest {};

// ---------------------------------------------------------------------------------------------
// Create.

TEST_F(ResourceApiTest, CreateNamespaceFillsServerFields) {
  Reply r = CreateNamespace("team-a");
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.Str("apiVersion"), "v1");
  EXPECT_EQ(r.Str("kind"), "Namespace");
  EXPECT_EQ(r.Str("metadata.name"), "team-a");
  EXPECT_EQ(r.Str("metadata.uid").size(), 36u);
  EXPECT_EQ(r.Str("metadata.creationTimestamp"), FormatRfc3339(clock_.Now()));
  EXPECT_EQ(r.At("metadata.generation"), json::value(1));
  EXPECT_EQ(Rv(r), store_->CurrentVersion());
  EXPECT_GT(Rv(r), 0);
  EXPECT_FALSE(Find(r.body, "metadata.namespace"));
  EXPECT_EQ(r.Str("status.phase"), "Active");
  EXPECT_EQ(r.At("spec.finalizers"), J(R"(["kubernetes"])"));

  Reply got = Get("/api/v1/namespaces/team-a");
  ASSERT_EQ(got.status, 200) << got;
  EXPECT_EQ(got.body, r.body);
}

TEST_F(ResourceApiTest, CreateIgnoresClientStatusAndServerOwnedMetadata) {
  Reply r = Do("POST", "/api/v1/namespaces",
               R"({"metadata":{"name":"x","uid":"mine","creationTimestamp":"2000-01-01T00:00:00Z",
                   "generation":7,"namespace":"other"},"status":{"phase":"Terminating"}})");
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_NE(r.Str("metadata.uid"), "mine");
  EXPECT_EQ(r.Str("metadata.creationTimestamp"), FormatRfc3339(clock_.Now()));
  EXPECT_EQ(r.At("metadata.generation"), json::value(1));
  EXPECT_FALSE(Find(r.body, "metadata.namespace"));
  EXPECT_EQ(r.Str("status.phase"), "Active");
}

TEST_F(ResourceApiTest, CreateDuplicateIsAlreadyExists) {
  ASSERT_EQ(CreateNamespace("team-a").status, 201);
  Reply r = CreateNamespace("team-a");
  EXPECT_EQ(r.status, 409) << r;
  EXPECT_EQ(r.Str("kind"), "Status");
  EXPECT_EQ(r.Str("status"), "Failure");
  EXPECT_EQ(r.Str("reason"), "AlreadyExists");
  EXPECT_EQ(r.Str("message"), R"(namespaces "team-a" already exists)");
  EXPECT_EQ(r.At("code"), json::value(409));
  EXPECT_EQ(r.Str("details.name"), "team-a");
  EXPECT_EQ(r.Str("details.kind"), "namespaces");
}

TEST_F(ResourceApiTest, CreateWithBadNameIsInvalid) {
  int64_t before = store_->CurrentVersion();
  Reply r = CreateNamespace("Team_A");
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.Str("reason"), "Invalid");
  EXPECT_EQ(r.At("code"), json::value(422));
  EXPECT_THAT(
      r.Str("message"),
      StartsWith(R"(Namespace "Team_A" is invalid: metadata.name: Invalid value: "Team_A")"));
  EXPECT_EQ(r.Str("details.causes.0.field"), "metadata.name");
  EXPECT_EQ(r.Str("details.causes.0.reason"), "FieldValueInvalid");
  EXPECT_THAT(r.Str("details.causes.0.message"), StartsWith(R"(Invalid value: "Team_A")"));
  EXPECT_EQ(store_->CurrentVersion(), before);

  // A namespace name is a label: no dots.
  EXPECT_EQ(CreateNamespace("a.b").status, 422);
}

TEST_F(ResourceApiTest, CreateWithoutNameIsInvalidAndGenerateNameWorks) {
  Reply r = Do("POST", "/api/v1/namespaces", R"({"metadata":{}})");
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.Str("details.causes.0.field"), "metadata.name");
  EXPECT_EQ(r.Str("details.causes.0.reason"), "FieldValueRequired");

  Reply g = Do("POST", "/api/v1/namespaces", R"({"metadata":{"generateName":"gen-"}})");
  ASSERT_EQ(g.status, 201) << g;
  EXPECT_THAT(g.Str("metadata.name"), StartsWith("gen-"));
  EXPECT_EQ(g.Str("metadata.name").size(), 9u);
  EXPECT_EQ(Get("/api/v1/namespaces/" + g.Str("metadata.name")).status, 200);
}

TEST_F(ResourceApiTest, CreateWithBadLabelIsInvalid) {
  Reply r = CreateNamespace("x", R"({"bad key!":"v"})");
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.Str("details.causes.0.field"), "metadata.labels");
}

TEST_F(ResourceApiTest, CreateWithWrongTypeMetaIsBadRequest) {
  Reply v = Do("POST", "/api/v1/namespaces",
               R"({"apiVersion":"apps/v1","kind":"Namespace","metadata":{"name":"x"}})");
  EXPECT_EQ(v.status, 400) << v;
  EXPECT_EQ(v.Str("reason"), "BadRequest");
  EXPECT_THAT(v.Str("message"), HasSubstr("apps/v1"));
  Reply k = Do("POST", "/api/v1/namespaces",
               R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"}})");
  EXPECT_EQ(k.status, 400) << k;
  EXPECT_THAT(k.Str("message"), HasSubstr("Pod"));
  EXPECT_EQ(Get("/api/v1/namespaces/x").status, 404);
}

TEST_F(ResourceApiTest, MalformedBodiesWriteNothing) {
  int64_t before = store_->CurrentVersion();
  for (const char* body : {"{", "[1,2]", "\"x\"", "{\"metadata\": {\"name\": \"x\"}} trailing"}) {
    Reply r = Do("POST", "/api/v1/namespaces", body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r;
    EXPECT_EQ(r.Str("kind"), "Status");
  }
  Reply empty = Do("POST", "/api/v1/namespaces", "");
  EXPECT_EQ(empty.status, 400) << empty;
  EXPECT_EQ(store_->CurrentVersion(), before);
  EXPECT_EQ(store_->writes(), 0);
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces")), IsEmpty());
}

TEST_F(ResourceApiTest, UnsupportedContentTypeIs415) {
  Reply r = Do("POST", "/api/v1/namespaces", R"({"metadata":{"name":"x"}})",
               {{"Content-Type", "text/plain"}});
  EXPECT_EQ(r.status, 415) << r;
  EXPECT_EQ(r.Str("reason"), "UnsupportedMediaType");
  // Protobuf only for kinds with a descriptor (protobuf_test.cpp covers those).
  Reply pb = Do("POST", "/apis/example.com/v1/namespaces/default/widgets", "\x6b\x38\x73",
                {{"Content-Type", "application/vnd.kubernetes.protobuf"}});
  EXPECT_EQ(pb.status, 415) << pb;
}

TEST_F(ResourceApiTest, CreateFromYaml) {
  Reply r = Do("POST", "/api/v1/namespaces",
               "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: from-yaml\n  labels:\n"
               "    team: a\n",
               {{"Content-Type", "application/yaml; charset=utf-8"}});
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.Str("metadata.labels.team"), "a");
  Reply bad = Do("POST", "/api/v1/namespaces", "metadata: [unclosed\n",
                 {{"Content-Type", "application/yaml"}});
  EXPECT_EQ(bad.status, 400) << bad;
}

TEST_F(ResourceApiTest, StrictFieldValidationRejectsUnknownFields) {
  Reply r = Do("POST", "/api/v1/namespaces?fieldValidation=Strict",
               R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"},
                   "spec":{"foo":1}})");
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_EQ(r.Str("reason"), "BadRequest");
  EXPECT_EQ(r.Str("message"), R"(strict decoding error: unknown field "spec.foo")");
  EXPECT_EQ(Get("/api/v1/namespaces/x").status, 404);

  Reply two = Do("POST", "/api/v1/namespaces?fieldValidation=Strict",
                 R"({"metadata":{"name":"x","nope":1},"spec":{"foo":1}})");
  EXPECT_EQ(two.status, 400);
  EXPECT_THAT(two.Str("message"), HasSubstr(R"(unknown field "metadata.nope")"));
  EXPECT_THAT(two.Str("message"), HasSubstr(R"(unknown field "spec.foo")"));
}

TEST_F(ResourceApiTest, WarnFieldValidationPrunesAndWarns) {
  Reply r = Do("POST", "/api/v1/namespaces?fieldValidation=Warn",
               R"({"metadata":{"name":"x"},"spec":{"foo":1},"extra":true})");
  ASSERT_EQ(r.status, 201) << r;
  auto warnings = r.headers.GetAll("Warning");
  EXPECT_THAT(warnings, ElementsAre(R"(299 - "unknown field \"spec.foo\"")",
                                    R"(299 - "unknown field \"extra\"")"));
  EXPECT_FALSE(Find(r.body, "spec.foo"));
  EXPECT_FALSE(Find(r.body, "extra"));
  Reply got = Get("/api/v1/namespaces/x");
  EXPECT_FALSE(Find(got.body, "spec.foo"));
  EXPECT_EQ(got.At("spec.finalizers"), J(R"(["kubernetes"])"));

  // Warn is the default; Ignore prunes silently.
  Reply d = Do("POST", "/api/v1/namespaces", R"({"metadata":{"name":"y"},"spec":{"foo":1}})");
  EXPECT_EQ(d.status, 201);
  EXPECT_EQ(d.headers.GetAll("Warning").size(), 1u);
  Reply i = Do("POST", "/api/v1/namespaces?fieldValidation=Ignore",
               R"({"metadata":{"name":"z"},"spec":{"foo":1}})");
  EXPECT_EQ(i.status, 201);
  EXPECT_FALSE(i.headers.Has("Warning"));
  EXPECT_FALSE(Find(i.body, "spec.foo"));

  EXPECT_EQ(
      Do("POST", "/api/v1/namespaces?fieldValidation=Loud", R"({"metadata":{"name":"w"}})").status,
      400);
}

TEST_F(ResourceApiTest, TypeErrorsAreBadRequestInEveryMode) {
  ASSERT_EQ(CreateNamespace("ns").status, 201);
  for (const char* mode : {"Strict", "Warn", "Ignore"}) {
    Reply r =
        Do("POST", std::string("/api/v1/namespaces/ns/resourcequotas?fieldValidation=") + mode,
           R"({"metadata":{"name":"q"},"spec":{"hard":{"pods":true}}})");
    EXPECT_EQ(r.status, 400) << mode << " " << r;
    EXPECT_EQ(r.Str("message"),
              "ResourceQuota in version \"v1\" cannot be handled as a ResourceQuota: "
              "spec.hard.pods: expected an integer or a string, got boolean");
  }
  // int-or-string both ways.
  Reply ok = Do("POST", "/api/v1/namespaces/ns/resourcequotas",
                R"({"metadata":{"name":"q"},"spec":{"hard":{"pods":10,"cpu":"2"}}})");
  EXPECT_EQ(ok.status, 201) << ok;
}

TEST_F(ResourceApiTest, KindValidateHookIsInvalid) {
  ASSERT_EQ(CreateNamespace("ns").status, 201);
  Reply r = Do("POST", "/apis/example.com/v1/namespaces/ns/widgets",
               R"({"metadata":{"name":"w"},"spec":{"replicas":-1}})");
  EXPECT_EQ(r.status, 422) << r;
  EXPECT_EQ(r.Str("details.group"), "example.com");
  EXPECT_EQ(r.Str("details.causes.0.field"), "spec.replicas");
  EXPECT_THAT(
      r.Str("message"),
      HasSubstr(R"(Widget "w" is invalid: spec.replicas: Invalid value: -1: must be >= 0)"));
}

// ---------------------------------------------------------------------------------------------
// Namespaced objects.

TEST_F(ResourceApiTest, NamespacedCreateNeedsAnExistingNamespace) {
  Reply r = CreateQuota("nope", "q");
  EXPECT_EQ(r.status, 404) << r;
  EXPECT_EQ(r.Str("reason"), "NotFound");
  EXPECT_EQ(r.Str("message"), R"(namespaces "nope" not found)");
  EXPECT_EQ(r.Str("details.kind"), "namespaces");
  EXPECT_EQ(r.Str("details.name"), "nope");
}

TEST_F(ResourceApiTest, NamespacedCreateSetsTheNamespace) {
  ASSERT_EQ(CreateNamespace("ns").status, 201);
  Reply r = CreateQuota("ns", "q");
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.Str("metadata.namespace"), "ns");
  EXPECT_EQ(r.Str("kind"), "ResourceQuota");
  EXPECT_EQ(Get("/api/v1/namespaces/ns/resourcequotas/q").status, 200);

  Reply mismatch = Do("POST", "/api/v1/namespaces/ns/resourcequotas",
                      R"({"metadata":{"name":"q2","namespace":"other"}})");
  EXPECT_EQ(mismatch.status, 400) << mismatch;
  EXPECT_THAT(mismatch.Str("message"), HasSubstr("does not match the namespace"));
}

TEST_F(ResourceApiTest, RoutingMisses) {
  ASSERT_EQ(CreateNamespace("ns").status, 201);
  // Unknown resource, namespaced kind without a namespace, cluster kind inside a namespace,
  // unknown subresource.
  EXPECT_EQ(Get("/api/v1/pods").status, 404);
  EXPECT_EQ(Get("/api/v1/resourcequotas/q").status, 404);
  EXPECT_EQ(Do("POST", "/api/v1/resourcequotas", R"({"metadata":{"name":"q"}})").status, 404);
  EXPECT_EQ(Get("/api/v1/namespaces/ns/namespaces/ns").status, 404);
  EXPECT_EQ(Do("DELETE", "/api/v1/namespaces/ns/namespaces/ns").status, 404);
  EXPECT_EQ(Get("/api/v1/namespaces/ns").status, 200);
  EXPECT_EQ(Get("/api/v1/namespaces/ns/scale").status, 404);
  EXPECT_EQ(Get("/api/v1/namespaces/ns/limitranges/l/status").status, 404);  // no status
  // Methods that do not apply.
  EXPECT_EQ(Do("POST", "/api/v1/namespaces/ns", R"({"metadata":{"name":"ns"}})").status, 405);
  EXPECT_EQ(Do("DELETE", "/api/v1/namespaces/ns/status").status, 405);
  EXPECT_EQ(Do("DELETE", "/api/v1/namespaces").status, 405);
  EXPECT_EQ(Do("OPTIONS", "/api/v1/namespaces").status, 405);
}

// ---------------------------------------------------------------------------------------------
// Get and list.

TEST_F(ResourceApiTest, GetMissingIsNotFound) {
  Reply r = Get("/api/v1/namespaces/ghost");
  EXPECT_EQ(r.status, 404) << r;
  EXPECT_EQ(r.Str("message"), R"(namespaces "ghost" not found)");
  EXPECT_EQ(r.Str("details.name"), "ghost");

  Reply w = Get("/apis/example.com/v1/namespaces/ns/widgets/ghost");
  EXPECT_EQ(w.status, 404);
  EXPECT_EQ(w.Str("message"), R"(widgets.example.com "ghost" not found)");
  EXPECT_EQ(w.Str("details.group"), "example.com");
}

TEST_F(ResourceApiTest, ListIsAKindListWithTheStoreVersion) {
  ASSERT_EQ(CreateNamespace("b").status, 201);
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply r = Get("/api/v1/namespaces");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.Str("kind"), "NamespaceList");
  EXPECT_EQ(r.Str("apiVersion"), "v1");
  EXPECT_EQ(r.Str("metadata.resourceVersion"), std::to_string(store_->CurrentVersion()));
  EXPECT_THAT(ItemNames(r), ElementsAre("a", "b"));
  EXPECT_EQ(r.Str("items.0.kind"), "Namespace");
  EXPECT_EQ(r.Str("items.0.apiVersion"), "v1");
}

TEST_F(ResourceApiTest, ListAcrossAndWithinNamespaces) {
  ASSERT_EQ(CreateNamespace("n1").status, 201);
  ASSERT_EQ(CreateNamespace("n2").status, 201);
  ASSERT_EQ(CreateQuota("n1", "q1").status, 201);
  ASSERT_EQ(CreateQuota("n2", "q2").status, 201);
  EXPECT_THAT(ItemNames(Get("/api/v1/resourcequotas")), ElementsAre("q1", "q2"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces/n2/resourcequotas")), ElementsAre("q2"));
  EXPECT_EQ(Get("/api/v1/namespaces/n2/resourcequotas").Str("kind"), "ResourceQuotaList");
}

TEST_F(ResourceApiTest, ListPagesWithLimitAndContinue) {
  for (const char* n : {"a", "b", "c"}) ASSERT_EQ(CreateNamespace(n).status, 201);
  Reply p1 = Get("/api/v1/namespaces?limit=2");
  ASSERT_EQ(p1.status, 200) << p1;
  EXPECT_THAT(ItemNames(p1), ElementsAre("a", "b"));
  std::string token = p1.Str("metadata.continue");
  ASSERT_FALSE(token.empty()) << p1;
  EXPECT_EQ(p1.At("metadata.remainingItemCount"), json::value(1));
  Reply p2 = Get("/api/v1/namespaces?limit=2&continue=" + http::PercentEncode(token));
  ASSERT_EQ(p2.status, 200) << p2;
  EXPECT_THAT(ItemNames(p2), ElementsAre("c"));
  EXPECT_FALSE(Find(p2.body, "metadata.continue"));
  EXPECT_EQ(Get("/api/v1/namespaces?limit=-1").status, 400);
  EXPECT_EQ(Get("/api/v1/namespaces?limit=x").status, 400);
}

TEST_F(ResourceApiTest, LabelAndFieldSelectors) {
  ASSERT_EQ(CreateNamespace("a", R"({"team":"x","tier":"web"})").status, 201);
  ASSERT_EQ(CreateNamespace("b", R"({"team":"y"})").status, 201);
  ASSERT_EQ(CreateNamespace("c").status, 201);
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces?labelSelector=team%3Dx")), ElementsAre("a"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces?labelSelector=team")), ElementsAre("a", "b"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces?labelSelector=team%20in%20(x,y),tier!%3Dweb")),
              ElementsAre("b"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces?labelSelector=!team")), ElementsAre("c"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces?fieldSelector=metadata.name%3Db")),
              ElementsAre("b"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces?fieldSelector=metadata.name!%3Db")),
              ElementsAre("a", "c"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces?fieldSelector=status.phase%3D%3DActive")),
              ElementsAre("a", "b", "c"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces?fieldSelector=status.phase%3DTerminating")),
              IsEmpty());
  EXPECT_THAT(
      ItemNames(Get("/api/v1/namespaces?labelSelector=team&fieldSelector=metadata.name%3Da")),
      ElementsAre("a"));

  Reply bad_label = Get("/api/v1/namespaces?labelSelector=team%20in%20(x");
  EXPECT_EQ(bad_label.status, 400) << bad_label;
  EXPECT_EQ(bad_label.Str("reason"), "BadRequest");
  EXPECT_EQ(Get("/api/v1/namespaces?labelSelector=bad%20key%3Dx").status, 400);
  Reply bad_field = Get("/api/v1/namespaces?fieldSelector=metadata.name");
  EXPECT_EQ(bad_field.status, 400) << bad_field;
  EXPECT_EQ(Get("/api/v1/namespaces?fieldSelector=%3Dx").status, 400);
}

TEST_F(ResourceApiTest, ListAsTable) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  clock_.Advance(std::chrono::minutes(5));
  ASSERT_EQ(CreateNamespace("b").status, 201);
  Reply r = Get("/api/v1/namespaces", {{"Accept", kTableAccept}});
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.Str("kind"), "Table");
  EXPECT_EQ(r.Str("apiVersion"), "meta.k8s.io/v1");
  EXPECT_EQ(r.Str("metadata.resourceVersion"), std::to_string(store_->CurrentVersion()));
  std::vector<std::string> cols;
  for (const auto& c : r.At("columnDefinitions").as_array()) {
    cols.emplace_back(c.at("name").as_string());
  }
  EXPECT_THAT(cols, ElementsAre("Name", "Status", "Age"));
  const auto& rows = r.At("rows").as_array();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].at("cells"), J(R"(["a","Active","5m"])"));
  EXPECT_EQ(rows[1].at("cells"), J(R"(["b","Active","0s"])"));
  EXPECT_EQ(GetString(rows[0], "object.kind"), "PartialObjectMetadata");
  EXPECT_EQ(GetString(rows[0], "object.metadata.name"), "a");

  Reply none = Get("/api/v1/namespaces?includeObject=None", {{"Accept", kTableAccept}});
  EXPECT_FALSE(none.At("rows").as_array()[0].as_object().contains("object"));
  Reply full = Get("/api/v1/namespaces?includeObject=Object", {{"Accept", kTableAccept}});
  EXPECT_EQ(GetString(full.At("rows").as_array()[0], "object.kind"), "Namespace");
  EXPECT_EQ(Get("/api/v1/namespaces?includeObject=All", {{"Accept", kTableAccept}}).status, 400);

  // A single object as a table; plain JSON when Table is not asked for.
  Reply one = Get("/api/v1/namespaces/a", {{"Accept", kTableAccept}});
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.Str("kind"), "Table");
  EXPECT_EQ(one.At("rows").as_array().size(), 1u);
  EXPECT_EQ(Get("/api/v1/namespaces/a", {{"Accept", "application/json"}}).Str("kind"), "Namespace");
  EXPECT_EQ(Get("/api/v1/namespaces", {{"Accept", "*/*"}}).Str("kind"), "NamespaceList");
}

TEST_F(ResourceApiTest, PartialObjectMetadataList) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply r = Get("/api/v1/namespaces",
                {{"Accept", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Str("kind"), "PartialObjectMetadataList");
  EXPECT_EQ(r.Str("items.0.kind"), "PartialObjectMetadata");
  EXPECT_FALSE(Find(r.body, "items.0.spec"));
}

// ---------------------------------------------------------------------------------------------
// Update.

TEST_F(ResourceApiTest, UpdateWithCurrentVersionSucceeds) {
  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  json::value obj = created.body;
  obj.as_object()["metadata"].as_object()["labels"] = json::object{{"x", "1"}};
  Reply r = Do("PUT", "/api/v1/namespaces/a", Serialize(obj));
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.Str("metadata.labels.x"), "1");
  EXPECT_GT(Rv(r), Rv(created));
  EXPECT_EQ(r.At("metadata.generation"), json::value(1));  // metadata only
  EXPECT_EQ(r.Str("metadata.uid"), created.Str("metadata.uid"));
  EXPECT_EQ(r.Str("metadata.creationTimestamp"), created.Str("metadata.creationTimestamp"));
}

TEST_F(ResourceApiTest, UpdateWithStaleVersionIsConflict) {
  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  ASSERT_EQ(Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"metadata":{"labels":{"x":"1"}}})")
                .status,
            200);
  json::value stale = created.body;
  stale.as_object()["metadata"].as_object()["labels"] = json::object{{"y", "2"}};
  Reply r = Do("PUT", "/api/v1/namespaces/a", Serialize(stale));
  EXPECT_EQ(r.status, 409) << r;
  EXPECT_EQ(r.Str("reason"), "Conflict");
  EXPECT_EQ(r.Str("message"),
            R"(Operation cannot be fulfilled on namespaces "a": the object has been modified; )"
            "please apply your changes to the latest version and try again");
  EXPECT_EQ(Get("/api/v1/namespaces/a").Str("metadata.labels.x"), "1");
  Reply after = Get("/api/v1/namespaces/a");
  EXPECT_FALSE(Find(after.body, "metadata.labels.y"));

  Reply bad_rv =
      Do("PUT", "/api/v1/namespaces/a", R"({"metadata":{"name":"a","resourceVersion":"abc"}})");
  EXPECT_EQ(bad_rv.status, 400) << bad_rv;
}

TEST_F(ResourceApiTest, UpdateChecks) {
  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  EXPECT_EQ(Do("PUT", "/api/v1/namespaces/ghost", R"({"metadata":{"name":"ghost"}})").status, 404);
  Reply name = Do("PUT", "/api/v1/namespaces/a", R"({"metadata":{"name":"b"}})");
  EXPECT_EQ(name.status, 400) << name;
  Reply uid = Do("PUT", "/api/v1/namespaces/a", R"({"metadata":{"name":"a","uid":"other"}})");
  EXPECT_EQ(uid.status, 409) << uid;
  EXPECT_THAT(uid.Str("message"), HasSubstr("UID in precondition: other"));
  Reply label =
      Do("PUT", "/api/v1/namespaces/a", R"({"metadata":{"name":"a","labels":{"-":"x"}}})");
  EXPECT_EQ(label.status, 422) << label;
  EXPECT_EQ(Get("/api/v1/namespaces/a").body, created.body);
}

TEST_F(ResourceApiTest, UpdateThatChangesNothingWritesNothing) {
  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  int writes = store_->writes();
  Reply r = Do("PUT", "/api/v1/namespaces/a", Serialize(created.body));
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(Rv(r), Rv(created));
  EXPECT_EQ(store_->writes(), writes);
}

TEST_F(ResourceApiTest, SpecChangeBumpsGeneration) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply r = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"spec":{"finalizers":["kubernetes","example.com/x"]}})");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.At("metadata.generation"), json::value(2));
  Reply again = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                      R"({"metadata":{"annotations":{"n":"1"}}})");
  EXPECT_EQ(again.At("metadata.generation"), json::value(2));
}

// ---------------------------------------------------------------------------------------------
// The status subresource.

TEST_F(ResourceApiTest, MainResourceWritesDoNotChangeStatus) {
  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  json::value obj = created.body;
  obj.as_object()["status"] = json::object{{"phase", "Terminating"}};
  obj.as_object()["metadata"].as_object()["labels"] = json::object{{"x", "1"}};
  Reply put = Do("PUT", "/api/v1/namespaces/a", Serialize(obj));
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_EQ(put.Str("status.phase"), "Active");
  EXPECT_EQ(put.Str("metadata.labels.x"), "1");

  Reply patch = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                      R"({"status":{"phase":"Terminating"}})");
  ASSERT_EQ(patch.status, 200) << patch;
  EXPECT_EQ(patch.Str("status.phase"), "Active");
  EXPECT_EQ(Get("/api/v1/namespaces/a").Str("status.phase"), "Active");
}

TEST_F(ResourceApiTest, StatusSubresourceChangesOnlyStatus) {
  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  json::value obj = created.body;
  obj.as_object()["status"] = json::object{{"phase", "Terminating"}};
  obj.as_object()["metadata"].as_object()["labels"] = json::object{{"x", "1"}};
  obj.as_object()["spec"] = json::object{{"finalizers", json::array()}};
  Reply put = Do("PUT", "/api/v1/namespaces/a/status", Serialize(obj));
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_EQ(put.Str("status.phase"), "Terminating");
  EXPECT_FALSE(Find(put.body, "metadata.labels.x"));
  EXPECT_EQ(put.At("spec.finalizers"), J(R"(["kubernetes"])"));
  EXPECT_EQ(put.At("metadata.generation"), json::value(1));
  EXPECT_GT(Rv(put), Rv(created));

  Reply get = Get("/api/v1/namespaces/a/status");
  ASSERT_EQ(get.status, 200) << get;
  EXPECT_EQ(get.Str("status.phase"), "Terminating");

  Reply patch = Patch("/api/v1/namespaces/a/status", "application/merge-patch+json",
                      R"({"status":{"phase":"Active"},"metadata":{"labels":{"y":"2"}}})");
  ASSERT_EQ(patch.status, 200) << patch;
  EXPECT_EQ(patch.Str("status.phase"), "Active");
  EXPECT_FALSE(Find(patch.body, "metadata.labels.y"));
}

// ---------------------------------------------------------------------------------------------
// Patch.

TEST_F(ResourceApiTest, MergePatchLabelsBumpsVersionNotGeneration) {
  Reply created = CreateNamespace("a", R"({"keep":"1","drop":"2"})");
  ASSERT_EQ(created.status, 201);
  Reply r = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"metadata":{"labels":{"new":"3","drop":null}}})");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.At("metadata.labels"), J(R"({"keep":"1","new":"3"})"));
  EXPECT_GT(Rv(r), Rv(created));
  EXPECT_EQ(r.At("metadata.generation"), json::value(1));
  EXPECT_EQ(Get("/api/v1/namespaces/a").At("metadata.labels"), J(R"({"keep":"1","new":"3"})"));
}

TEST_F(ResourceApiTest, StrategicMergePatchMergesListsByKey) {
  ASSERT_EQ(CreateNamespace("ns").status, 201);
  ASSERT_EQ(Do("POST", "/apis/example.com/v1/namespaces/ns/widgets",
               R"({"metadata":{"name":"w","labels":{"a":"1"}},"spec":{"replicas":1,
                   "items":[{"name":"x","value":"1"},{"name":"y","value":"2"}]}})")
                .status,
            201);
  Reply r = Patch("/apis/example.com/v1/namespaces/ns/widgets/w",
                  "application/strategic-merge-patch+json",
                  R"({"metadata":{"labels":{"b":"2"}},"spec":{"items":[
                      {"name":"y","value":"22"},{"name":"z","value":"3"},
                      {"name":"x","$patch":"delete"}]}})");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.At("metadata.labels"), J(R"({"a":"1","b":"2"})"));
  EXPECT_EQ(r.At("spec.items"), J(R"([{"name":"y","value":"22"},{"name":"z","value":"3"}])"));
  EXPECT_EQ(r.At("metadata.generation"), json::value(2));

  // Merge patch replaces the list instead.
  Reply m = Patch("/apis/example.com/v1/namespaces/ns/widgets/w", "application/merge-patch+json",
                  R"({"spec":{"items":[{"name":"only"}]}})");
  ASSERT_EQ(m.status, 200) << m;
  EXPECT_EQ(m.At("spec.items"), J(R"([{"name":"only"}])"));

  Reply bad = Patch("/apis/example.com/v1/namespaces/ns/widgets/w",
                    "application/strategic-merge-patch+json", R"({"spec":{"$patch":"nope"}})");
  EXPECT_EQ(bad.status, 400) << bad;
}

TEST_F(ResourceApiTest, StrategicMergePatchOnNamespace) {
  ASSERT_EQ(CreateNamespace("a", R"({"x":"1"})").status, 201);
  Reply r = Patch("/api/v1/namespaces/a", "application/strategic-merge-patch+json",
                  R"({"metadata":{"labels":{"y":"2","x":null}}})");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.At("metadata.labels"), J(R"({"y":"2"})"));
}

TEST_F(ResourceApiTest, JsonPatch) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply r = Patch("/api/v1/namespaces/a", "application/json-patch+json",
                  R"([{"op":"add","path":"/metadata/labels","value":{"j":"1"}},
                      {"op":"add","path":"/metadata/labels/k","value":"2"}])");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.At("metadata.labels"), J(R"({"j":"1","k":"2"})"));

  int64_t before = store_->CurrentVersion();
  Reply failed = Patch("/api/v1/namespaces/a", "application/json-patch+json",
                       R"([{"op":"remove","path":"/metadata/labels/j"},
                           {"op":"test","path":"/metadata/labels/k","value":"nope"}])");
  EXPECT_GE(failed.status, 400) << failed;
  EXPECT_LT(failed.status, 500) << failed;
  EXPECT_THAT(failed.Str("message"), HasSubstr("operation 1"));
  EXPECT_EQ(store_->CurrentVersion(), before);
  EXPECT_EQ(Get("/api/v1/namespaces/a").Str("metadata.labels.j"), "1");

  Reply not_array = Patch("/api/v1/namespaces/a", "application/json-patch+json", "{}");
  EXPECT_EQ(not_array.status, 400);
  Reply to_scalar = Patch("/api/v1/namespaces/a", "application/json-patch+json",
                          R"([{"op":"replace","path":"","value":"x"}])");
  EXPECT_EQ(to_scalar.status, 400) << to_scalar;
}

TEST_F(ResourceApiTest, PatchErrors) {
  Reply missing = Patch("/api/v1/namespaces/ghost", "application/merge-patch+json",
                        R"({"metadata":{"labels":{"a":"1"}}})");
  EXPECT_EQ(missing.status, 404) << missing;
  EXPECT_EQ(missing.Str("message"), R"(namespaces "ghost" not found)");

  ASSERT_EQ(CreateNamespace("a").status, 201);
  EXPECT_EQ(Patch("/api/v1/namespaces/a", "application/json", "{}").status, 415);
  Reply ssa = Patch("/api/v1/namespaces/a", "application/apply-patch+yaml", "metadata: {}");
  EXPECT_EQ(ssa.status, 415) << ssa;
  EXPECT_THAT(ssa.Str("message"), HasSubstr("server-side apply"));
  EXPECT_EQ(Patch("/api/v1/namespaces/a", "application/merge-patch+json", "{").status, 400);
  EXPECT_EQ(Patch("/api/v1/namespaces/a", "application/merge-patch+json", "[]").status, 400);
  // A patch that makes the object invalid.
  Reply invalid = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                        R"({"metadata":{"labels":{"bad key":"x"}}})");
  EXPECT_EQ(invalid.status, 422) << invalid;
  // Renaming through a patch is refused.
  Reply rename =
      Patch("/api/v1/namespaces/a", "application/merge-patch+json", R"({"metadata":{"name":"b"}})");
  EXPECT_EQ(rename.status, 400) << rename;
  EXPECT_EQ(Get("/api/v1/namespaces/b").status, 404);
}

TEST_F(ResourceApiTest, PatchWithStaleResourceVersionPreconditionIsConflict) {
  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  std::string rv = created.Str("metadata.resourceVersion");
  ASSERT_EQ(Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"metadata":{"resourceVersion":")" + rv + R"(","labels":{"a":"1"}}})")
                .status,
            200);
  Reply stale = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                      R"({"metadata":{"resourceVersion":")" + rv + R"(","labels":{"b":"1"}}})");
  EXPECT_EQ(stale.status, 409) << stale;
  EXPECT_EQ(stale.Str("reason"), "Conflict");
}

TEST_F(ResourceApiTest, PatchRetriesLostRacesAFewTimes) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  store_->InjectConflicts(3);
  Reply r = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"metadata":{"labels":{"x":"1"}}})");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(Get("/api/v1/namespaces/a").Str("metadata.labels.x"), "1");

  store_->InjectConflicts(100);
  Reply gave_up = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                        R"({"metadata":{"labels":{"y":"1"}}})");
  EXPECT_EQ(gave_up.status, 409) << gave_up;
  EXPECT_EQ(gave_up.Str("reason"), "Conflict");
  store_->InjectConflicts(0);
  Reply after = Get("/api/v1/namespaces/a");
  EXPECT_FALSE(Find(after.body, "metadata.labels.y"));
}

TEST_F(ResourceApiTest, ConcurrentPatchesLoseNoUpdate) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::vector<std::vector<std::pair<std::string, int>>> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &results] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = "k" + std::to_string(t) + "-" + std::to_string(i);
        Reply r = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                        R"({"metadata":{"labels":{")" + key + R"(":"v"}}})");
        results[t].emplace_back(key, r.status);
      }
    });
  }
  for (auto& th : threads) th.join();
  json::value labels = Get("/api/v1/namespaces/a").At("metadata.labels");
  int ok = 0;
  for (const auto& per : results) {
    for (const auto& [key, status] : per) {
      ASSERT_TRUE(status == 200 || status == 409) << key << " " << status;
      if (status == 200) {
        ++ok;
        EXPECT_TRUE(labels.as_object().contains(key)) << key << " was acknowledged but lost";
      }
    }
  }
  EXPECT_GT(ok, 0);
}

// ---------------------------------------------------------------------------------------------
// Dry runs.

TEST_F(ResourceApiTest, DryRunWritesNothing) {
  Reply dry_create = Do("POST", "/api/v1/namespaces?dryRun=All", R"({"metadata":{"name":"d"}})");
  ASSERT_EQ(dry_create.status, 201) << dry_create;
  EXPECT_EQ(dry_create.Str("metadata.name"), "d");
  EXPECT_EQ(dry_create.Str("status.phase"), "Active");
  EXPECT_EQ(Get("/api/v1/namespaces/d").status, 404);
  EXPECT_EQ(store_->writes(), 0);

  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  int writes = store_->writes();
  int64_t version = store_->CurrentVersion();

  Reply dry_patch = Patch("/api/v1/namespaces/a?dryRun=All", "application/merge-patch+json",
                          R"({"metadata":{"labels":{"x":"1"}}})");
  ASSERT_EQ(dry_patch.status, 200) << dry_patch;
  EXPECT_EQ(dry_patch.Str("metadata.labels.x"), "1");
  json::value obj = created.body;
  obj.as_object()["metadata"].as_object()["labels"] = json::object{{"y", "1"}};
  Reply dry_put = Do("PUT", "/api/v1/namespaces/a?dryRun=All", Serialize(obj));
  ASSERT_EQ(dry_put.status, 200) << dry_put;
  EXPECT_EQ(dry_put.Str("metadata.labels.y"), "1");
  Reply dry_delete = Do("DELETE", "/api/v1/namespaces/a?dryRun=All");
  ASSERT_EQ(dry_delete.status, 200) << dry_delete;

  EXPECT_EQ(store_->writes(), writes);
  EXPECT_EQ(store_->CurrentVersion(), version);
  EXPECT_EQ(Get("/api/v1/namespaces/a").body, created.body);

  EXPECT_EQ(Do("POST", "/api/v1/namespaces?dryRun=Some", R"({"metadata":{"name":"e"}})").status,
            400);
}

// ---------------------------------------------------------------------------------------------
// Delete.

TEST_F(ResourceApiTest, DeleteThenNotFound) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply r = Do("DELETE", "/api/v1/namespaces/a");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.Str("kind"), "Namespace");
  EXPECT_EQ(r.Str("metadata.name"), "a");
  EXPECT_EQ(r.Str("status.phase"), "Terminating");
  EXPECT_EQ(Get("/api/v1/namespaces/a").status, 404);
  Reply again = Do("DELETE", "/api/v1/namespaces/a");
  EXPECT_EQ(again.status, 404) << again;
  EXPECT_EQ(again.Str("message"), R"(namespaces "a" not found)");
}

TEST_F(ResourceApiTest, DeletePreconditions) {
  Reply created = CreateNamespace("a");
  ASSERT_EQ(created.status, 201);
  ASSERT_EQ(Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"metadata":{"labels":{"x":"1"}}})")
                .status,
            200);
  Reply stale = Do("DELETE", "/api/v1/namespaces/a",
                   R"({"kind":"DeleteOptions","apiVersion":"v1","preconditions":
                       {"resourceVersion":")" +
                       created.Str("metadata.resourceVersion") + R"("}})");
  EXPECT_EQ(stale.status, 409) << stale;
  EXPECT_EQ(stale.Str("message"),
            R"(Operation cannot be fulfilled on namespaces "a": Precondition failed: )"
            "ResourceVersion in precondition: " +
                created.Str("metadata.resourceVersion") +
                ", ResourceVersion in object meta: " + std::to_string(store_->CurrentVersion()));
  Reply uid = Do("DELETE", "/api/v1/namespaces/a", R"({"preconditions":{"uid":"other"}})");
  EXPECT_EQ(uid.status, 409) << uid;
  EXPECT_EQ(uid.Str("reason"), "Conflict");
  EXPECT_THAT(uid.Str("message"), HasSubstr("Precondition failed: UID in precondition: other, "
                                            "UID in object meta: " +
                                            created.Str("metadata.uid")));
  Reply policy = Do("DELETE", "/api/v1/namespaces/a", R"({"propagationPolicy":"Sometimes"})");
  EXPECT_EQ(policy.status, 400) << policy;
  EXPECT_EQ(Get("/api/v1/namespaces/a").status, 200);
  Reply ok = Do("DELETE", "/api/v1/namespaces/a",
                R"({"propagationPolicy":"Background","preconditions":{"uid":")" +
                    created.Str("metadata.uid") + R"("}})");
  EXPECT_EQ(ok.status, 200) << ok;
}

TEST_F(ResourceApiTest, DeletingANamespaceDeletesItsContentsInOneTransaction) {
  ASSERT_EQ(CreateNamespace("doomed").status, 201);
  ASSERT_EQ(CreateNamespace("other").status, 201);
  ASSERT_EQ(CreateQuota("doomed", "q1").status, 201);
  ASSERT_EQ(CreateQuota("other", "q2").status, 201);
  ASSERT_EQ(
      Do("POST", "/apis/example.com/v1/namespaces/doomed/widgets", R"({"metadata":{"name":"w"}})")
          .status,
      201);
  size_t commits_before = store_->commits().size();

  Reply r = Do("DELETE", "/api/v1/namespaces/doomed");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(Get("/api/v1/namespaces/doomed/resourcequotas/q1").status, 404);
  EXPECT_EQ(Get("/apis/example.com/v1/namespaces/doomed/widgets/w").status, 404);
  EXPECT_EQ(Get("/api/v1/namespaces/other/resourcequotas/q2").status, 200);

  auto commits = store_->commits();
  ASSERT_EQ(commits.size(), commits_before + 1);
  std::vector<std::string> deleted;
  for (const auto& m : commits.back()) {
    EXPECT_EQ(m.op, store::Mutation::Op::kDelete);
    deleted.push_back(m.key.resource + "/" + m.key.ns + "/" + m.key.name);
  }
  EXPECT_THAT(deleted, ::testing::UnorderedElementsAre("resourcequotas/doomed/q1",
                                                       "widgets.example.com/doomed/w",
                                                       "namespaces//doomed"));
}

TEST_F(ResourceApiTest, FailedNamespaceDeleteLeavesEverything) {
  ASSERT_EQ(CreateNamespace("ns").status, 201);
  ASSERT_EQ(CreateQuota("ns", "q").status, 201);
  store_->set_fail_commits(true);
  Reply r = Do("DELETE", "/api/v1/namespaces/ns");
  EXPECT_EQ(r.status, 503) << r;
  store_->set_fail_commits(false);
  EXPECT_EQ(Get("/api/v1/namespaces/ns").status, 200);
  EXPECT_EQ(Get("/api/v1/namespaces/ns/resourcequotas/q").status, 200);
}

TEST_F(ResourceApiTest, DeleteRetriesALostRace) {
  ASSERT_EQ(CreateNamespace("ns").status, 201);
  ASSERT_EQ(CreateQuota("ns", "q").status, 201);
  store_->InjectConflicts(2);
  Reply r = Do("DELETE", "/api/v1/namespaces/ns");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(Get("/api/v1/namespaces/ns/resourcequotas/q").status, 404);

  // With a resourceVersion precondition a lost race is a conflict.
  Reply created = CreateNamespace("other");
  store_->InjectConflicts(1);
  Reply pre = Do("DELETE", "/api/v1/namespaces/other",
                 R"({"preconditions":{"resourceVersion":")" +
                     created.Str("metadata.resourceVersion") + R"("}})");
  EXPECT_EQ(pre.status, 409) << pre;
  EXPECT_EQ(Get("/api/v1/namespaces/other").status, 200);
}

TEST_F(ResourceApiTest, DeleteCollection) {
  ASSERT_EQ(CreateNamespace("ns").status, 201);
  ASSERT_EQ(CreateQuota("ns", "a", R"({"x":"1"})").status, 201);
  ASSERT_EQ(CreateQuota("ns", "b", R"({"x":"2"})").status, 201);
  ASSERT_EQ(CreateQuota("ns", "c").status, 201);
  Reply r = Do("DELETE", "/api/v1/namespaces/ns/resourcequotas?labelSelector=x");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.Str("kind"), "ResourceQuotaList");
  EXPECT_THAT(ItemNames(r), ElementsAre("a", "b"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces/ns/resourcequotas")), ElementsAre("c"));
  Reply dry = Do("DELETE", "/api/v1/namespaces/ns/resourcequotas?dryRun=All");
  EXPECT_THAT(ItemNames(dry), ElementsAre("c"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces/ns/resourcequotas")), ElementsAre("c"));
  Reply by_field =
      Do("DELETE", "/api/v1/namespaces/ns/resourcequotas?fieldSelector=metadata.name%3Dc");
  EXPECT_THAT(ItemNames(by_field), ElementsAre("c"));
  EXPECT_THAT(ItemNames(Get("/api/v1/namespaces/ns/resourcequotas")), IsEmpty());
}

}  // namespace
}  // namespace skiff::api
