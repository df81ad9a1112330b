#include "pipelines/listing.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <set>

#include "core/crypto.hpp"
#include "core/json.hpp"

namespace skiff::pipelines {
namespace {

using ::testing::HasSubstr;

// Runs as the v1beta1 API lists them; rows keep created_at in milliseconds and storage_state in
// the v2beta1 spelling.
ResourceSchema RunSchema(std::string secret = {}) {
  ResourceSchema s;
  s.type_name = "Run";
  s.default_sort = "created_at";
  s.token_secret = std::move(secret);
  s.fields = {
      {"id", "", FieldType::kString},
      {"name", "name", FieldType::kString},
      {"created_at", "created_at", FieldType::kTimestampMillis},
      {"status", "status", FieldType::kString},
      {"priority", "priority", FieldType::kInt},
      {"storage_state",
       "storage_state",
       FieldType::kString,
       true,
       true,
       {{"STORAGESTATE_AVAILABLE", "AVAILABLE"}, {"STORAGESTATE_ARCHIVED", "ARCHIVED"}}},
      {"description", "description", FieldType::kString, false, true},  // filter only
  };
  return s;
}

Row MakeRow(std::string id, std::string name, int64_t created_ms, std::string status = "Running",
            int64_t priority = 0, std::string storage = "AVAILABLE") {
  Row r;
  r.id = std::move(id);
  r.fields["name"] = std::move(name);
  r.fields["created_at"] = created_ms;
  r.fields["status"] = std::move(status);
  r.fields["priority"] = priority;
  r.fields["storage_state"] = std::move(storage);
  return r;
}

Result<ListQuery> Parse(const ListParams& p, ApiVersion v = ApiVersion::kV1beta1,
                        const ResourceSchema& schema = RunSchema()) {
  return ParseListQuery(v, p, schema);
}

std::vector<std::string> Ids(const ListPage& page) {
  std::vector<std::string> out;
  for (const Row* r : page.items) out.push_back(r->id);
  return out;
}

std::string ErrorOf(const ListParams& p, ApiVersion v = ApiVersion::kV1beta1) {
  auto q = Parse(p, v);
  if (q) return "<ok>";
  EXPECT_EQ(q.error().code(), Code::kInvalidArgument);
  return q.error().message();
}

// -------------------------------------------------------------------------------------------
// page_size and sort_by

TEST(ListingParse, PageSizeAsKfp) {
  EXPECT_EQ(Parse({})->page_size, 20);
  EXPECT_EQ(Parse({.page_size = "0"})->page_size, 20);
  EXPECT_EQ(Parse({.page_size = "7"})->page_size, 7);
  EXPECT_EQ(Parse({.page_size = "200"})->page_size, 200);
  EXPECT_EQ(Parse({.page_size = "201"})->page_size, 200);
  EXPECT_EQ(Parse({.page_size = "100000"})->page_size, 200);
  EXPECT_EQ(ErrorOf({.page_size = "-1"}),
            "Invalid input error: The page size should be greater than 0. Got -1");
  EXPECT_EQ(ErrorOf({.page_size = "ten"}),
            "parsing field \"page_size\": strconv.ParseInt: parsing \"ten\": invalid syntax");
  EXPECT_THAT(ErrorOf({.page_size = "99999999999"}), HasSubstr("value out of range"));
}

TEST(ListingParse, SortByAsKfp) {
  auto q = Parse({});
  EXPECT_EQ(q->sort.api_name, "created_at");
  EXPECT_FALSE(q->sort.desc);
  q = Parse({.sort_by = "name desc"});
  EXPECT_EQ(q->sort.api_name, "name");
  EXPECT_TRUE(q->sort.desc);
  q = Parse({.sort_by = "  Name   DESC "});  // KFP lowercases and splits on spaces
  EXPECT_EQ(q->sort.api_name, "name");
  EXPECT_TRUE(q->sort.desc);
  q = Parse({.sort_by = "id asc"});
  EXPECT_EQ(q->sort.row_key, "");
  EXPECT_FALSE(q->sort.desc);
  EXPECT_EQ(ErrorOf({.sort_by = "foo"}),
            "Invalid input error: Invalid sorting field: \"foo\" on listable type Run");
  EXPECT_THAT(ErrorOf({.sort_by = "description"}), HasSubstr("Invalid sorting field"));
  EXPECT_THAT(ErrorOf({.sort_by = "name up"}),
              HasSubstr("Received invalid sort by format \"name up\""));
  EXPECT_THAT(ErrorOf({.sort_by = "name desc now"}), HasSubstr("invalid sort by format"));
}

// -------------------------------------------------------------------------------------------
// filter parsing

TEST(ListingFilter, V1UsesOpByNameOrNumber) {
  auto f = ParseFilter(ApiVersion::kV1beta1,
                       R"({"predicates":[{"key":"name","op":"EQUALS","string_value":"a"},)"
                       R"({"key":"priority","op":3,"int_value":2}]})",
                       RunSchema());
  ASSERT_TRUE(f) << f.error().message();
  ASSERT_EQ(f->predicates.size(), 2u);
  EXPECT_EQ(f->predicates[0].op, FilterOp::kEquals);
  EXPECT_EQ(f->predicates[1].op, FilterOp::kGreaterThan);
  EXPECT_EQ(f->predicates[1].ints, std::vector<int64_t>{2});
}

TEST(ListingFilter, V2UsesOperation) {
  auto f = ParseFilter(ApiVersion::kV2beta1,
                       R"({"predicates":[{"operation":"IN","key":"status",)"
                       R"("stringValues":{"values":["Running","Failed"]}}]})",
                       RunSchema());
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->predicates[0].op, FilterOp::kIn);
  EXPECT_EQ(f->predicates[0].strings, (std::vector<std::string>{"running", "failed"}));
  // Each version refuses the other's field name, as protojson refuses unknown fields.
  auto bad = ParseFilter(ApiVersion::kV2beta1,
                         R"({"predicates":[{"op":"EQUALS","key":"name","string_value":"a"}]})",
                         RunSchema());
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("unknown field \"op\""));
  bad = ParseFilter(ApiVersion::kV1beta1,
                    R"({"predicates":[{"operation":"EQUALS","key":"name","string_value":"a"}]})",
                    RunSchema());
  ASSERT_FALSE(bad);
  EXPECT_THAT(bad.error().message(), HasSubstr("unknown field \"operation\""));
}

TEST(ListingFilter, ValueFormsAsProtojson) {
  auto f = ParseFilter(ApiVersion::kV1beta1,
                       R"({"predicates":[)"
                       R"({"key":"priority","op":"EQUALS","long_value":"9000000000"},)"
                       R"({"key":"created_at","op":"GREATER_THAN",)"
                       R"("timestamp_value":"2024-05-01T10:00:00.5%2B02:00"},)"
                       R"({"key":"priority","op":"IN","long_values":{"values":["1",2]}},)"
                       R"({"key":"priority","op":"IN","int_values":{"values":[3]}}]})",
                       RunSchema());
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->predicates[0].ints, std::vector<int64_t>{9000000000});
  EXPECT_EQ(f->predicates[1].ints, std::vector<int64_t>{1714550400});  // 08:00:00Z
  EXPECT_EQ(f->predicates[2].ints, (std::vector<int64_t>{1, 2}));
  // As in KFP, a '+' left in the text becomes a space in the second unescaping.
  auto plus = ParseFilter(ApiVersion::kV1beta1,
                          R"({"predicates":[{"key":"created_at","op":"GREATER_THAN",)"
                          R"("timestamp_value":"2024-05-01T10:00:00+02:00"}]})",
                          RunSchema());
  EXPECT_FALSE(plus);
}

TEST(ListingFilter, UrlEncodedOnceMoreAsKfpDoes) {
  auto f = ParseFilter(
      ApiVersion::kV1beta1,
      "%7B%22predicates%22%3A%5B%7B%22key%22%3A%22name%22%2C%22op%22%3A%22EQUALS%22%2C%22"
      "string_value%22%3A%22a%20b%22%7D%5D%7D",
      RunSchema());
  ASSERT_TRUE(f) << f.error().message();
  EXPECT_EQ(f->predicates[0].strings, std::vector<std::string>{"a b"});
}

TEST(ListingFilter, ErrorsAsKfp) {
  auto err = [](std::string_view text, ApiVersion v = ApiVersion::kV1beta1) {
    auto f = ParseFilter(v, text, RunSchema());
    EXPECT_FALSE(f) << text;
    if (f) return std::string();
    EXPECT_EQ(f.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(f.error().message(), HasSubstr("Invalid input error: "));
    return f.error().message();
  };
  EXPECT_THAT(err("not json"), HasSubstr("failed to parse valid filter from \"not json\""));
  EXPECT_THAT(err(R"({"predicates":[{"key":"foo","op":"EQUALS","string_value":"x"}]})"),
              HasSubstr("no support for filtering on unrecognized field \"foo\""));
  EXPECT_THAT(err(R"({"predicates":[{"key":"name","op":"IN","string_value":"x"}]})"),
              HasSubstr("cannot use IN operator with scalar type string"));
  EXPECT_THAT(
      err(R"({"predicates":[{"key":"name","op":"EQUALS","string_values":{"values":["x"]}}]})"),
      HasSubstr("cannot use scalar operator EQUALS on array type []string"));
  EXPECT_THAT(err(R"({"predicates":[{"key":"name","op":"IS_SUBSTRING","int_value":1}]})"),
              HasSubstr("cannot use non string value type int32 with operator IS_SUBSTRING"));
  EXPECT_THAT(err(R"({"predicates":[{"op":"EQUALS","string_value":"x"}]})"),
              HasSubstr("Predicate key cannot be empty for operation EQUALS and value x"));
  EXPECT_THAT(err(R"({"predicates":[{"key":"name","string_value":"x"}]})"),
              HasSubstr("invalid predicate operation"));
  EXPECT_THAT(err(R"({"predicates":[{"key":"name","op":"UNKNOWN","string_value":"x"}]})"),
              HasSubstr("invalid predicate operation"));
  EXPECT_THAT(err(R"({"predicates":[{"key":"name","op":"LIKE","string_value":"x"}]})"),
              HasSubstr("LIKE"));
  EXPECT_THAT(err(R"({"predicates":[{"key":"name","op":"EQUALS"}]})"), HasSubstr("no value"));
  EXPECT_THAT(
      err(R"({"predicates":[{"key":"name","op":"EQUALS","string_value":"x","int_value":1}]})"),
      HasSubstr("more than one value field"));
  EXPECT_THAT(err(R"({"predicates":[{"key":"priority","op":"EQUALS","int_value":3000000000}]})"),
              HasSubstr("int32"));
  EXPECT_THAT(err(R"({"predicates":[{"key":"created_at","op":"EQUALS","timestamp_value":5}]})"),
              HasSubstr("timestamp_value"));
  EXPECT_THAT(err(R"({"filters":[]})"), HasSubstr("unknown field \"filters\""));
  EXPECT_THAT(err("%zz"), HasSubstr("invalid URL escape"));
  // A list-request error names the parameter's text.
  EXPECT_THAT(ErrorOf({.filter = "[1]"}), HasSubstr("failed to parse valid filter from \"[1]\""));
}

// -------------------------------------------------------------------------------------------
// filter semantics

std::vector<std::string> FilterIds(const std::vector<Row>& rows, std::string_view filter,
                                   ApiVersion v = ApiVersion::kV1beta1) {
  auto q = ParseListQuery(v, {.page_size = "200", .sort_by = "id", .filter = std::string(filter)},
                          RunSchema());
  EXPECT_TRUE(q) << (q ? "" : q.error().message());
  if (!q) return {};
  ListPage page = Apply(*q, std::span<const Row>(rows));
  EXPECT_EQ(page.total_size, static_cast<int64_t>(page.items.size()));
  return Ids(page);
}

std::string Pred(std::string_view key, std::string_view op, std::string_view value) {
  return R"({"predicates":[{"key":")" + std::string(key) + R"(","op":")" + std::string(op) +
         R"(",)" + std::string(value) + "}]}";
}

TEST(ListingMatch, Operators) {
  std::vector<Row> rows = {
      MakeRow("a", "Train model", 1'714'550'400'000, "Succeeded", 1),  // 2024-05-01T08:00:00Z
      MakeRow("b", "train DATA", 1'714'550'400'900, "Failed", 2),      // same second
      MakeRow("c", "evaluate", 1'714'550'401'000, "Running", 3, "ARCHIVED"),
  };
  EXPECT_EQ(FilterIds(rows, Pred("name", "EQUALS", R"("string_value":"TRAIN MODEL")")),
            std::vector<std::string>{"a"});
  EXPECT_EQ(FilterIds(rows, Pred("name", "NOT_EQUALS", R"("string_value":"train model")")),
            (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(FilterIds(rows, Pred("name", "IS_SUBSTRING", R"("string_value":"Train")")),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(
      FilterIds(rows, Pred("status", "IN", R"("string_values":{"values":["failed","RUNNING"]})")),
      (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(FilterIds(rows, Pred("priority", "GREATER_THAN_EQUALS", R"("int_value":2)")),
            (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(FilterIds(rows, Pred("priority", "LESS_THAN", R"("long_value":"2")")),
            std::vector<std::string>{"a"});
  EXPECT_EQ(FilterIds(rows, Pred("priority", "IN", R"("int_values":{"values":[1,3]})")),
            (std::vector<std::string>{"a", "c"}));
  // Timestamps compare in whole seconds, as KFP's created_at_in_sec.
  EXPECT_EQ(
      FilterIds(rows, Pred("created_at", "EQUALS", R"("timestamp_value":"2024-05-01T08:00:00Z")")),
      (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(FilterIds(rows, Pred("created_at", "GREATER_THAN",
                                 R"("timestamp_value":"2024-05-01T08:00:00Z")")),
            std::vector<std::string>{"c"});
  EXPECT_EQ(FilterIds(rows, Pred("created_at", "LESS_THAN_EQUALS", R"("long_value":1714550400)")),
            (std::vector<std::string>{"a", "b"}));
  // v1beta1's storage-state spelling through the schema's aliases.
  EXPECT_EQ(FilterIds(rows, Pred("storage_state", "NOT_EQUALS",
                                 R"("string_value":"STORAGESTATE_ARCHIVED")")),
            (std::vector<std::string>{"a", "b"}));
  // Predicates are ANDed; the id is a field too.
  EXPECT_EQ(FilterIds(rows, R"({"predicates":[)"
                            R"({"key":"name","op":"IS_SUBSTRING","string_value":"train"},)"
                            R"({"key":"id","op":"NOT_EQUALS","string_value":"a"}]})"),
            std::vector<std::string>{"b"});
  // A row without the field matches nothing (SQL NULL), not even NOT_EQUALS.
  rows.push_back(Row{.id = "d", .fields = {}});
  EXPECT_EQ(FilterIds(rows, Pred("name", "NOT_EQUALS", R"("string_value":"zzz")")),
            (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(FilterIds(rows, ""), (std::vector<std::string>{"a", "b", "c", "d"}));
}

// -------------------------------------------------------------------------------------------
// paging

TEST(ListingPage, SortsAndPagesWithTotalSize) {
  std::vector<Row> rows = {
      MakeRow("r3", "b", 3000), MakeRow("r1", "a", 1000), MakeRow("r2", "B", 2000),
      MakeRow("r4", "c", 2000), MakeRow("r5", "a", 5000),
  };
  auto q = Parse({.page_size = "2"});
  ASSERT_TRUE(q);
  ListPage p1 = Apply(*q, std::span<const Row>(rows));
  EXPECT_EQ(Ids(p1), (std::vector<std::string>{"r1", "r2"}));  // ties by id
  EXPECT_EQ(p1.total_size, 5);
  ASSERT_FALSE(p1.next_page_token.empty());
  auto q2 = Parse({.page_token = p1.next_page_token, .page_size = "2"});
  ASSERT_TRUE(q2) << q2.error().message();
  ListPage p2 = Apply(*q2, std::span<const Row>(rows));
  EXPECT_EQ(Ids(p2), (std::vector<std::string>{"r4", "r3"}));
  EXPECT_EQ(p2.total_size, 5);
  auto q3 = Parse({.page_token = p2.next_page_token, .page_size = "2"});
  ListPage p3 = Apply(*q3, std::span<const Row>(rows));
  EXPECT_EQ(Ids(p3), std::vector<std::string>{"r5"});
  EXPECT_TRUE(p3.next_page_token.empty());

  // Names sort ignoring case ("a" "a" "B" "b" "c"), ties by id; descending reverses both.
  q = Parse({.page_size = "10", .sort_by = "name"});
  EXPECT_EQ(Ids(Apply(*q, std::span<const Row>(rows))),
            (std::vector<std::string>{"r1", "r5", "r2", "r3", "r4"}));
  q = Parse({.page_size = "10", .sort_by = "name desc"});
  EXPECT_EQ(Ids(Apply(*q, std::span<const Row>(rows))),
            (std::vector<std::string>{"r4", "r3", "r2", "r5", "r1"}));
  // A page exactly as large as what is left has no next token.
  q = Parse({.page_size = "5"});
  EXPECT_TRUE(Apply(*q, std::span<const Row>(rows)).next_page_token.empty());
}

struct PagingCase {
  std::string sort_by;
  std::string filter;
};

// Walks every page, checking against an independent sort of the filtered rows. `ordered`: pages
// come from ApplyOrdered over the order Order made once for the first query, as a cache would.
void CheckPaging(const std::vector<Row>& rows, const PagingCase& c, int page_size,
                 bool ordered = false) {
  SCOPED_TRACE(ordered ? "ApplyOrdered" : "Apply");
  ResourceSchema schema = RunSchema();
  auto first = ParseListQuery(
      ApiVersion::kV1beta1,
      {.page_size = std::to_string(page_size), .sort_by = c.sort_by, .filter = c.filter}, schema);
  ASSERT_TRUE(first) << first.error().message();
  std::vector<const Row*> expected;
  for (const Row& r : rows) {
    if (Matches(first->filter, r)) expected.push_back(&r);
  }
  std::sort(expected.begin(), expected.end(), [&](const Row* a, const Row* b) {
    int cmp = CompareForSort(first->sort, *a, *b);
    return first->sort.desc ? cmp > 0 : cmp < 0;
  });
  std::vector<const Row*> got;
  std::string token;
  ListQuery q = *first;
  std::vector<const Row*> pointers;
  for (const Row& r : rows) pointers.push_back(&r);
  const std::vector<uint32_t> order = Order(*first, pointers);
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 100000);
    // A token's query needs the same order as the first page's.
    ASSERT_EQ(OrderKey(q), OrderKey(*first));
    ListPage page =
        ordered ? ApplyOrdered(q, pointers, order) : Apply(q, std::span<const Row>(rows));
    EXPECT_EQ(page.total_size, static_cast<int64_t>(expected.size()));
    EXPECT_LE(page.items.size(), static_cast<size_t>(page_size));
    got.insert(got.end(), page.items.begin(), page.items.end());
    if (page.next_page_token.empty()) break;
    auto next = ParseListQuery(
        ApiVersion::kV1beta1,
        {.page_token = page.next_page_token, .page_size = std::to_string(page_size)}, schema);
    ASSERT_TRUE(next) << next.error().message();
    q = *next;
  }
  EXPECT_EQ(got, expected) << c.sort_by << " " << c.filter;
}

std::vector<Row> ManyRows(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Row> rows;
  rows.reserve(n);
  const char* statuses[] = {"Running", "Succeeded", "Failed", "Pending"};
  for (size_t i = 0; i < n; ++i) {
    // Few distinct names and created_at values: many ties, broken by id.
    rows.push_back(MakeRow("run-" + std::to_string(rng()), "pipeline-" + std::to_string(rng() % 50),
                           1'700'000'000'000 + static_cast<int64_t>(rng() % 500) * 1000,
                           statuses[rng() % 4], static_cast<int64_t>(rng() % 10)));
  }
  return rows;
}

TEST(ListingPage, TenThousandRowsConcatenateToTheSortedFilteredSet) {
  std::vector<Row> rows = ManyRows(10000, 7);
  PagingCase cases[] = {
      {"", ""},
      {"created_at desc", ""},
      {"name", ""},
      {"name desc", Pred("status", "NOT_EQUALS", R"("string_value":"failed")")},
      {"id desc", Pred("priority", "IN", R"("int_values":{"values":[1,2,3]})")},
      {"priority", Pred("name", "IS_SUBSTRING", R"("string_value":"-1")")},
  };
  for (bool ordered : {false, true}) {
    for (const PagingCase& c : cases) CheckPaging(rows, c, 200, ordered);
  }
  // Small pages: many tokens, each resuming exactly where the last page ended.
  rows.resize(1500);
  for (bool ordered : {false, true}) {
    CheckPaging(rows, cases[3], 7, ordered);
    CheckPaging(rows, cases[4], 1, ordered);
  }
}

TEST(ListingPage, TenThousandRowsOnePageProbe) {
  std::vector<Row> rows = ManyRows(10000, 9);
  std::vector<const Row*> pointers;
  for (const Row& r : rows) pointers.push_back(&r);
  auto q = Parse({.page_size = "20", .sort_by = "created_at desc"});
  auto start = std::chrono::steady_clock::now();
  int64_t total = 0;
  for (int i = 0; i < 20; ++i) total += Apply(*q, pointers).total_size;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  EXPECT_EQ(total, 20 * 10000);
  RecordProperty("apply_10k_us", static_cast<int>(us / 20));
  std::printf("Apply over 10,000 rows: %lld us per page\n", static_cast<long long>(us / 20));
}

TEST(ListingPage, RowSourceOverTheCallersOwnRecords) {
  // Records as the catalog keeps them: JSON plus a created_at member.
  struct Record {
    std::string id;
    json::object spec;
    int64_t created_at_ms;
  };
  std::vector<Row> rows = ManyRows(2000, 21);
  std::vector<Record> records;
  for (const Row& r : rows) {
    json::object spec;
    spec["name"] = std::get<std::string>(*r.Find("name"));
    spec["status"] = std::get<std::string>(*r.Find("status"));
    spec["priority"] = std::get<int64_t>(*r.Find("priority"));
    records.push_back({r.id, std::move(spec), std::get<int64_t>(*r.Find("created_at"))});
  }
  RowSource source{.size = records.size(),
                   .id = [&](size_t i) { return std::string_view(records[i].id); },
                   .field = [&](size_t i, const std::string& key) -> FieldRef {
                     if (key == "created_at") return records[i].created_at_ms;
                     const json::value* v = records[i].spec.if_contains(key);
                     if (!v) return std::monostate{};
                     if (v->is_int64()) return v->get_int64();
                     if (v->is_string()) return std::string_view(v->get_string());
                     return std::monostate{};
                   }};
  ListParams params{.page_size = "50",
                    .sort_by = "name desc",
                    .filter = Pred("status", "IN", R"("string_values":{"values":["Running"]})")};
  for (int pages = 0;; ++pages) {
    ASSERT_LT(pages, 1000);
    auto q = Parse(params);
    ASSERT_TRUE(q) << q.error().message();
    ListPage by_row = Apply(*q, std::span<const Row>(rows));
    IndexPage by_source = Apply(*q, source);
    ASSERT_EQ(by_source.items.size(), by_row.items.size());
    for (size_t i = 0; i < by_row.items.size(); ++i) {
      EXPECT_EQ(records[by_source.items[i]].id, by_row.items[i]->id);
    }
    EXPECT_EQ(by_source.total_size, by_row.total_size);
    EXPECT_EQ(by_source.next_page_token, by_row.next_page_token);
    if (by_source.next_page_token.empty()) break;
    params = ListParams{.page_token = by_source.next_page_token, .page_size = "50"};
  }
}

TEST(ListingPage, StableUnderInsertsBetweenPages) {
  for (std::string sort_by : {"created_at desc", "created_at", "name"}) {
    std::vector<Row> rows = ManyRows(3000, 11);
    std::set<std::string> before;
    for (const Row& r : rows) before.insert(r.id);
    ResourceSchema schema = RunSchema();
    auto q = ParseListQuery(ApiVersion::kV1beta1, {.page_size = "100", .sort_by = sort_by}, schema);
    ASSERT_TRUE(q);
    std::mt19937 rng(3);
    std::vector<std::string> seen;
    int64_t next_created = 1'800'000'000'000;
    for (int pages = 0;; ++pages) {
      ASSERT_LT(pages, 1000);
      ListPage page = Apply(*q, std::span<const Row>(rows));
      for (const Row* r : page.items) seen.push_back(r->id);
      if (page.next_page_token.empty()) break;
      // New runs arrive between two requests (newest created_at, random names). A reallocation
      // of `rows` must not matter: the token holds values, not pointers.
      for (int i = 0; i < 25; ++i) {
        rows.push_back(MakeRow("new-" + std::to_string(pages) + "-" + std::to_string(i),
                               "pipeline-" + std::to_string(rng() % 50), next_created++));
      }
      auto next = ParseListQuery(ApiVersion::kV1beta1,
                                 {.page_token = page.next_page_token, .page_size = "100"}, schema);
      ASSERT_TRUE(next) << next.error().message();
      q = next;
    }
    std::set<std::string> unique(seen.begin(), seen.end());
    EXPECT_EQ(unique.size(), seen.size()) << sort_by << ": a row came twice";
    for (const std::string& id : before) {
      EXPECT_TRUE(unique.count(id)) << sort_by << ": missing " << id;
    }
    if (sort_by == "created_at desc") {
      // Newest first: runs created after the first page never show up in later pages.
      EXPECT_EQ(seen.size(), before.size());
    }
  }
}

// -------------------------------------------------------------------------------------------
// page tokens

TEST(ListingToken, CarriesSortAndFilter) {
  std::vector<Row> rows = ManyRows(50, 5);
  std::string filter = Pred("status", "EQUALS", R"("string_value":"Running")");
  auto q = Parse({.page_size = "3", .sort_by = "name desc", .filter = filter});
  ASSERT_TRUE(q);
  ListPage p1 = Apply(*q, std::span<const Row>(rows));
  ASSERT_FALSE(p1.next_page_token.empty());
  // Only the token: continues with its sort and filter.
  auto q2 = Parse({.page_token = p1.next_page_token, .page_size = "3"});
  ASSERT_TRUE(q2) << q2.error().message();
  EXPECT_EQ(q2->sort.api_name, "name");
  EXPECT_TRUE(q2->sort.desc);
  EXPECT_EQ(q2->filter.canonical, q->filter.canonical);
  ASSERT_TRUE(q2->after);
  // The same criteria again: accepted (predicate order and value case do not matter).
  EXPECT_TRUE(Parse({.page_token = p1.next_page_token,
                     .sort_by = "NAME desc",
                     .filter = Pred("status", "EQUALS", R"("string_value":"running")")}));
  // Different criteria: refused as KFP refuses them.
  std::string mismatch =
      "Invalid input error: page token does not match the supplied sort by and/or filtering "
      "criteria. Either specify the same criteria or leave the latter empty if page token is "
      "specified.";
  EXPECT_EQ(ErrorOf({.page_token = p1.next_page_token, .sort_by = "name"}), mismatch);
  EXPECT_EQ(ErrorOf({.page_token = p1.next_page_token, .sort_by = "name desc"}), mismatch);
  EXPECT_EQ(ErrorOf({.page_token = p1.next_page_token,
                     .sort_by = "name desc",
                     .filter = Pred("status", "EQUALS", R"("string_value":"Failed")")}),
            mismatch);
  // In v2beta1 too (the token does not depend on how the filter was spelled).
  EXPECT_TRUE(ParseListQuery(
      ApiVersion::kV2beta1,
      {.page_token = p1.next_page_token,
       .sort_by = "name desc",
       .filter =
           R"({"predicates":[{"key":"status","operation":"EQUALS","string_value":"Running"}]})"},
      RunSchema()));
}

TEST(ListingToken, GarbageAndTamperingAreRefused) {
  std::vector<Row> rows = ManyRows(50, 5);
  ResourceSchema signed_schema = RunSchema("s3cret");
  auto q = ParseListQuery(ApiVersion::kV1beta1, {.page_size = "5"}, signed_schema);
  ListPage p = Apply(*q, std::span<const Row>(rows));
  ASSERT_FALSE(p.next_page_token.empty());
  auto parse = [&](std::string token, const ResourceSchema& schema) {
    return ParseListQuery(ApiVersion::kV1beta1, {.page_token = std::move(token)}, schema);
  };
  EXPECT_TRUE(parse(p.next_page_token, signed_schema));
  for (std::string bad : {std::string("garbage!!"), std::string("e30"), std::string("%%%"),
                          p.next_page_token.substr(0, p.next_page_token.find('.'))}) {
    auto r = parse(bad, signed_schema);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    EXPECT_THAT(r.error().message(), HasSubstr("Invalid input error: Invalid page token"));
  }
  // Changing the payload (here: its sort direction) breaks the signature.
  std::string payload = p.next_page_token.substr(0, p.next_page_token.find('.'));
  auto decoded = Base64UrlDecode(payload);
  ASSERT_TRUE(decoded);
  std::string changed = *decoded;
  changed.replace(changed.find("\"d\":false"), 9, "\"d\":true");
  std::string forged = Base64UrlEncode(changed) + p.next_page_token.substr(payload.size());
  auto r = parse(forged, signed_schema);
  ASSERT_FALSE(r);
  EXPECT_THAT(r.error().message(), HasSubstr("signature"));
  // A token for another resource type.
  ResourceSchema pipelines = RunSchema("s3cret");
  pipelines.type_name = "Pipeline";
  EXPECT_FALSE(parse(p.next_page_token, pipelines));
  // Unsigned schemas still validate what they decode.
  auto unsigned_q = Parse({.page_size = "5"});
  ListPage up = Apply(*unsigned_q, std::span<const Row>(rows));
  EXPECT_TRUE(Parse({.page_token = up.next_page_token}));
  json::object evil;
  evil["v"] = 1;
  evil["t"] = "Run";
  evil["s"] = "password";
  evil["d"] = false;
  evil["k"] = nullptr;
  evil["i"] = "x";
  EXPECT_THAT(ErrorOf({.page_token = Base64UrlEncode(Serialize(evil))}),
              HasSubstr("Invalid page token"));
  evil["s"] = "name";
  evil["f"] = json::array{json::array{1, "nope", 2, json::array{"x"}}};
  EXPECT_THAT(ErrorOf({.page_token = Base64UrlEncode(Serialize(evil))}),
              HasSubstr("Invalid page token"));
}

TEST(ListingSchema, KfpFieldMapsServeBothVersions) {
  ResourceSchema runs = KfpSchema(KfpResource::kRun);
  std::vector<Row> rows = {
      Row{.id = "r1",
          .fields = {{"display_name", "nightly"},
                     {"created_at", int64_t{1000}},
                     {"experiment_id", "e1"},
                     {"storage_state", "ARCHIVED"}}},
      Row{.id = "r2",
          .fields = {{"display_name", "adhoc"},
                     {"created_at", int64_t{2000}},
                     {"experiment_id", "e2"},
                     {"storage_state", "AVAILABLE"}}},
  };
  auto v1 = ParseListQuery(
      ApiVersion::kV1beta1,
      {.sort_by = "name",
       .filter = Pred("storage_state", "NOT_EQUALS", R"("string_value":"STORAGESTATE_ARCHIVED")")},
      runs);
  ASSERT_TRUE(v1) << v1.error().message();
  EXPECT_EQ(Ids(Apply(*v1, std::span<const Row>(rows))), std::vector<std::string>{"r2"});
  auto v2 = ParseListQuery(ApiVersion::kV2beta1,
                           {.sort_by = "display_name desc",
                            .filter = R"({"predicates":[{"key":"experiment_id","operation":"IN",)"
                                      R"("string_values":{"values":["e1","e2"]}}]})"},
                           runs);
  ASSERT_TRUE(v2) << v2.error().message();
  EXPECT_EQ(Ids(Apply(*v2, std::span<const Row>(rows))), (std::vector<std::string>{"r1", "r2"}));
  EXPECT_TRUE(ParseListQuery(ApiVersion::kV2beta1, {.sort_by = "run_id"}, runs));
  auto bad = ParseListQuery(ApiVersion::kV1beta1, {.sort_by = "pipeline_spec"},
                            KfpSchema(KfpResource::kPipelineVersion));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message(),
            "Invalid input error: Invalid sorting field: \"pipeline_spec\" on listable type "
            "PipelineVersion");
  EXPECT_TRUE(ParseListQuery(ApiVersion::kV1beta1, {.sort_by = "package_id"},
                             KfpSchema(KfpResource::kRecurringRun)));
  EXPECT_TRUE(ParseListQuery(ApiVersion::kV2beta1, {.sort_by = "last_run_created_at desc"},
                             KfpSchema(KfpResource::kExperiment)));
  EXPECT_FALSE(ParseListQuery(ApiVersion::kV2beta1, {.sort_by = "namespace"},
                              KfpSchema(KfpResource::kPipelineVersion)));
}

TEST(ListingToken, GarbageNeverCrashes) {
  std::mt19937 rng(2);
  ResourceSchema schema = RunSchema();
  const std::string alphabet = "{}[]\":,0123456789abcdefgkeyopstring_valueEQUALS%+-. \\";
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    size_t n = rng() % 40;
    for (size_t j = 0; j < n; ++j) text += alphabet[rng() % alphabet.size()];
    (void)ParseFilter(ApiVersion::kV1beta1, text, schema);
    (void)ParseListQuery(ApiVersion::kV2beta1, {.page_token = text, .page_size = text}, schema);
    (void)ParseListQuery(ApiVersion::kV2beta1, {.page_token = Base64UrlEncode(text)}, schema);
  }
}

// -------------------------------------------------------------------------------------------
// error bodies

TEST(ListingError, KfpBodies) {
  Status s = InvalidArgument("Invalid input error: Invalid sorting field: \"foo\"");
  auto v1 = ParseJsonObject(KfpErrorBody(s, ApiVersion::kV1beta1));
  ASSERT_TRUE(v1);
  EXPECT_EQ(GetString(*v1, "error"), s.message());
  EXPECT_EQ(GetString(*v1, "message"), s.message());
  EXPECT_EQ(v1->at("code").as_int64(), 3);
  ASSERT_EQ(v1->at("details").as_array().size(), 1u);
  EXPECT_EQ(GetString(v1->at("details").as_array()[0], "@type"), "type.googleapis.com/api.Error");
  EXPECT_EQ(GetString(v1->at("details").as_array()[0], "error_message"), s.message());

  auto v2 = ParseJsonObject(KfpErrorBody(NotFound("Run abc not found."), ApiVersion::kV2beta1));
  ASSERT_TRUE(v2);
  EXPECT_FALSE(v2->contains("error"));
  EXPECT_EQ(v2->at("code").as_int64(), 5);
  EXPECT_EQ(GetString(*v2, "message"), "Run abc not found.");
  EXPECT_TRUE(v2->at("details").as_array().empty());

  EXPECT_EQ(KfpHttpStatus(s), 400);
  EXPECT_EQ(KfpHttpStatus(Invalid("x")), 400);  // grpc-gateway ignores the reason
  EXPECT_EQ(KfpHttpStatus(NotFound("x")), 404);
  EXPECT_EQ(KfpHttpStatus(AlreadyExists("x")), 409);
  EXPECT_EQ(KfpHttpStatus(PermissionDenied("x")), 403);
  EXPECT_EQ(KfpHttpStatus(Unauthenticated("x")), 401);
  EXPECT_EQ(KfpHttpStatus(FailedPrecondition("x")), 400);
  EXPECT_EQ(KfpHttpStatus(Internal("x")), 500);
  EXPECT_EQ(KfpHttpStatus(Unimplemented("x")), 501);
}

}  // namespace
}  // namespace skiff::pipelines
