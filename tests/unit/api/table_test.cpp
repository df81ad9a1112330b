#include "api/table.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "test_util.hpp"

namespace skiff::api {
namespace {

using ::testing::ElementsAre;
using testing::J;
using testing::JO;

const json::value kPod = J(R"({
  "metadata": {"name": "p", "labels": {"app.kubernetes.io/name": "x"}},
  "spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:2"}],
           "replicas": 3},
  "status": {"conditions": [{"type": "Scheduled", "status": "True"},
                            {"type": "Ready", "status": "False", "reason": "Crash"}],
             "ok": true}
})");

TEST(EvalColumnPath, Fields) {
  EXPECT_EQ(EvalColumnPath(kPod, ".metadata.name"), json::value("p"));
  EXPECT_EQ(EvalColumnPath(kPod, ".spec.replicas"), json::value(3));
  EXPECT_EQ(EvalColumnPath(kPod, ".status.ok"), json::value(true));
  EXPECT_EQ(EvalColumnPath(kPod, "{.metadata.name}"), json::value("p"));
  EXPECT_EQ(EvalColumnPath(kPod, "metadata.name"), json::value("p"));
  EXPECT_EQ(EvalColumnPath(kPod, ".spec"), kPod.at("spec"));
}

TEST(EvalColumnPath, Indexes) {
  EXPECT_EQ(EvalColumnPath(kPod, ".spec.containers[0].image"), json::value("a:1"));
  EXPECT_EQ(EvalColumnPath(kPod, ".spec.containers[1].name"), json::value("b"));
  EXPECT_EQ(EvalColumnPath(kPod, ".spec.containers[2].name"), json::value(nullptr));
}

TEST(EvalColumnPath, Filters) {
  EXPECT_EQ(EvalColumnPath(kPod, R"(.status.conditions[?(@.type=="Ready")].status)"),
            json::value("False"));
  EXPECT_EQ(EvalColumnPath(kPod, R"(.status.conditions[?(@.type=='Scheduled')].status)"),
            json::value("True"));
  EXPECT_EQ(EvalColumnPath(kPod, R"(.status.conditions[?(@.type=="Ready")].reason)"),
            json::value("Crash"));
  EXPECT_EQ(EvalColumnPath(kPod, R"(.status.conditions[?(@.type == "Ready")].status)"),
            json::value("False"));
  EXPECT_EQ(EvalColumnPath(kPod, R"(.status.conditions[?(@.type=="Gone")].status)"),
            json::value(nullptr));
}

TEST(EvalColumnPath, FiltersOnBooleansAndNumbers) {
  // KServe's printer columns select traffic entries by booleans: [?(@.latestRevision==true)].
  const json::value traffic = J(R"({"t": [{"latestRevision": false, "percent": 90},
                                           {"latestRevision": true, "percent": 10}]})");
  EXPECT_EQ(EvalColumnPath(traffic, ".t[?(@.latestRevision==true)].percent"), json::value(10));
  EXPECT_EQ(EvalColumnPath(traffic, ".t[?(@.percent==90)].latestRevision"), json::value(false));
}

TEST(EvalColumnPath, QuotedKeys) {
  EXPECT_EQ(EvalColumnPath(kPod, R"(.metadata.labels['app.kubernetes.io/name'])"),
            json::value("x"));
}

TEST(EvalColumnPath, MissingIsNull) {
  EXPECT_EQ(EvalColumnPath(kPod, ".status.phase"), json::value(nullptr));
  EXPECT_EQ(EvalColumnPath(kPod, ".nope.deeper.still"), json::value(nullptr));
  EXPECT_EQ(EvalColumnPath(kPod, ".metadata.name.sub"), json::value(nullptr));
  EXPECT_EQ(EvalColumnPath(kPod, ".metadata[0]"), json::value(nullptr));
  EXPECT_EQ(EvalColumnPath(kPod, R"(.metadata[?(@.a=="b")])"), json::value(nullptr));
}

TEST(ParseIncludeObject, Values) {
  EXPECT_EQ(*ParseIncludeObject(""), IncludeObject::kMetadata);
  EXPECT_EQ(*ParseIncludeObject("Metadata"), IncludeObject::kMetadata);
  EXPECT_EQ(*ParseIncludeObject("None"), IncludeObject::kNone);
  EXPECT_EQ(*ParseIncludeObject("Object"), IncludeObject::kObject);
  EXPECT_FALSE(ParseIncludeObject("object"));
}

KindInfo WidgetKind(bool with_age_column = false) {
  KindInfo k;
  k.group = "example.com";
  k.version = "v1";
  k.kind = "Widget";
  k.plural = "widgets";
  k.columns = {
      {"Replicas", "integer", ".spec.replicas", "Desired", 0, "", nullptr},
      {"Ready", "string", R"(.status.conditions[?(@.type=="Ready")].status)", "", 0, "", nullptr},
      {"Image", "string", ".spec.containers[0].image", "First image", 1, "", nullptr},
      {"Upper", "string", "", "Computed", 0, "",
       [](const json::object& o) -> json::value {
         std::string n = GetString(json::value(o), "metadata.name");
         for (auto& c : n) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
         return json::string(n);
       }},
      {"Since", "date", ".status.since", "", 0, "", nullptr},
  };
  if (with_age_column) {
    k.columns.push_back({"Age", "date", ".metadata.creationTimestamp", "", 0, "", nullptr});
  }
  return k;
}

const auto kNow = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));

json::object Widget(std::string_view name, std::string_view created) {
  json::object o = JO(R"({"apiVersion":"example.com/v1","kind":"Widget",
      "metadata":{"name":"","uid":"u","creationTimestamp":""},
      "spec":{"replicas":2,"containers":[{"image":"img:1"}]},
      "status":{"conditions":[{"type":"Ready","status":"True"}],
                "since":"2023-11-14T22:12:20Z"}})");
  o["metadata"].as_object()["name"] = name;
  o["metadata"].as_object()["creationTimestamp"] = created;
  return o;
}

std::vector<std::string> ColumnNames(const json::object& table) {
  std::vector<std::string> out;
  for (const auto& c : table.at("columnDefinitions").as_array()) {
    out.emplace_back(c.at("name").as_string());
  }
  return out;
}

TEST(MakeTable, ColumnDefinitions) {
  json::object t = MakeTable(WidgetKind(), {}, kNow, IncludeObject::kMetadata,
                             json::object{{"resourceVersion", "5"}});
  EXPECT_EQ(t.at("kind"), json::value("Table"));
  EXPECT_EQ(t.at("apiVersion"), json::value("meta.k8s.io/v1"));
  EXPECT_EQ(t.at("metadata"), J(R"({"resourceVersion":"5"})"));
  EXPECT_THAT(ColumnNames(t),
              ElementsAre("Name", "Replicas", "Ready", "Image", "Upper", "Since", "Age"));
  const auto& defs = t.at("columnDefinitions").as_array();
  EXPECT_EQ(defs[0].at("format"), json::value("name"));
  EXPECT_EQ(defs[0].at("priority"), json::value(0));
  EXPECT_EQ(defs[1].at("type"), json::value("integer"));
  EXPECT_EQ(defs[1].at("description"), json::value("Desired"));
  EXPECT_EQ(defs[3].at("priority"), json::value(1));  // Image: -o wide only
  EXPECT_EQ(defs[6].at("priority"), json::value(0));
  EXPECT_TRUE(t.at("rows").as_array().empty());
}

TEST(MakeTable, AgeIsNotAppendedTwice) {
  json::object t =
      MakeTable(WidgetKind(/*with_age_column=*/true), {}, kNow, IncludeObject::kMetadata, {});
  EXPECT_THAT(ColumnNames(t),
              ElementsAre("Name", "Replicas", "Ready", "Image", "Upper", "Since", "Age"));
}

TEST(MakeTable, Cells) {
  json::object t =
      MakeTable(WidgetKind(), {Widget("w1", "2023-11-14T22:03:20Z"), Widget("w2", "not a time")},
                kNow, IncludeObject::kNone, {});
  const auto& rows = t.at("rows").as_array();
  ASSERT_EQ(rows.size(), 2u);
  // kNow is 2023-11-14T22:13:20Z: created 10 minutes before, `since` 60 seconds before.
  EXPECT_EQ(rows[0].at("cells"), J(R"(["w1", 2, "True", "img:1", "W1", "60s", "10m"])"));
  EXPECT_EQ(rows[1].at("cells"), J(R"(["w2", 2, "True", "img:1", "W2", "60s", "<unknown>"])"));
  EXPECT_FALSE(rows[0].as_object().contains("object"));
}

TEST(MakeTable, MissingCellsAreNull) {
  json::object o = JO(R"({"metadata":{"name":"bare","creationTimestamp":"2023-11-14T22:13:20Z"}})");
  json::object t = MakeTable(WidgetKind(), {o}, kNow, IncludeObject::kNone, {});
  EXPECT_EQ(t.at("rows").as_array()[0].at("cells"),
            J(R"(["bare", null, null, null, "BARE", null, "0s"])"));
}

TEST(MakeTable, IncludeObject) {
  json::object w = Widget("w1", "2023-11-14T22:03:20Z");
  json::object meta = MakeTable(WidgetKind(), {w}, kNow, IncludeObject::kMetadata, {});
  EXPECT_EQ(meta.at("rows").as_array()[0].at("object"),
            J(R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",
                  "metadata":{"name":"w1","uid":"u","creationTimestamp":"2023-11-14T22:03:20Z"}})"));
  json::object full = MakeTable(WidgetKind(), {w}, kNow, IncludeObject::kObject, {});
  EXPECT_EQ(full.at("rows").as_array()[0].at("object"), json::value(w));
}

TEST(MakeTable, WithoutHeaders) {
  json::object t = MakeTable(WidgetKind(), {Widget("w1", "2023-11-14T22:03:20Z")}, kNow,
                             IncludeObject::kNone, {}, /*with_headers=*/false);
  EXPECT_TRUE(t.at("columnDefinitions").is_null());
  EXPECT_EQ(t.at("rows").as_array().size(), 1u);
}

}  // namespace
}  // namespace skiff::api
