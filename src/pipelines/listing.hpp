#pragma once
// KFP's list requests (page_size, page_token, sort_by, filter) answered over an in-memory
// collection, as KFP's API server answers them over its database (backend/src/apiserver/list and
// filter): sans-I/O, so the API layer parses once per request and applies the query to the rows it
// keeps in memory.
//
// What follows KFP:
//   - page_size: 0 (or absent) means 20, above 200 means 200, negative is an error.
//   - sort_by: "field", "field asc" or "field desc" (case-insensitive, KFP lowercases it); the
//     default is the schema's default field, ascending, as KFP; ties are broken by the id, in the
//     same direction.
//   - filter: the JSON form of KFP's Filter proto ({"predicates": [...]}), "op" in v1beta1 and
//     "operation" in v2beta1 (names or numbers), values int_value, long_value, string_value,
//     timestamp_value (RFC 3339, compared as Unix seconds), int_values, long_values,
//     string_values (proto field names or their lowerCamelCase JSON names); predicates are ANDed;
//     string comparisons ignore ASCII case (KFP compares LOWER(column) and runs on MySQL's
//     case-insensitive collation). As KFP, the filter text is URL-unescaped once more
//     (url.QueryUnescape) before it is parsed.
//   - page_token: carries the sort field, the direction and the filter it was made for; a request
//     that gives a token and also sort_by or filter must give the same ones (else 400), and a
//     request with only a token continues with the token's.
//   - total_size: the number of rows that match the filter (not only the ones after the token).
// Where skiff differs: the token is keyset-after-the-last-row (KFP's points at the first row of
// the next page), so rows inserted or deleted between two requests never make a page repeat or
// skip a row that existed at both requests; tokens are base64url JSON, optionally signed with
// HMAC-SHA256 (ResourceSchema::token_secret) so a changed token is refused instead of followed.
//
// Errors are Status InvalidArgument with KFP's wording; KfpErrorBody and KfpHttpStatus render any
// Status as KFP's grpc-gateway does.
//
// Authorization scoping (namespace, resource references) is the caller's: pass only the rows the
// caller may list. The filter in a token is checked against the schema but is never trusted to
// restrict visibility.
//
// Threading: pure functions over immutable inputs; thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"

namespace skiff::pipelines {

enum class ApiVersion { kV1beta1, kV2beta1 };

// A field value of a row. Timestamps are integers (see FieldType).
using FieldValue = std::variant<std::monostate, int64_t, std::string>;
// The same, borrowed: what a RowSource returns. std::monostate is NULL (a missing field).
using FieldRef = std::variant<std::monostate, int64_t, std::string_view>;

enum class FieldType {
  kString,
  kInt,
  kTimestampSeconds,  // int64 Unix seconds
  kTimestampMillis,   // int64 Unix milliseconds: sorted to the millisecond, filtered in seconds
};

// One listable item. Owned by the caller; a ListPage points into the caller's rows.
struct Row {
  std::string id;
  // Every field a sort or a filter may name (by FieldSpec::row_key). A missing field or
  // std::monostate is SQL's NULL: it sorts first and matches no predicate.
  std::map<std::string, FieldValue, std::less<>> fields;

  const FieldValue* Find(std::string_view key) const;
};

struct FieldSpec {
  std::string api_name = {};  // as requests name it: "name", "display_name", "run_id"
  std::string row_key = {};   // key in Row::fields; empty: the field is Row::id
  FieldType type = FieldType::kString;
  bool sortable = true;
  bool filterable = true;
  // Filter string values are rewritten through this map (matched ignoring case) before
  // comparing, for enums that two API versions spell differently: v1beta1 storage_state
  // {"STORAGESTATE_ARCHIVED": "ARCHIVED", ...} when rows store the v2beta1 spelling.
  std::map<std::string, std::string> value_aliases = {};
};

// The listable fields of one resource in one API version. Built once by the caller.
struct ResourceSchema {
  std::string type_name;     // "Run", "Pipeline", ...: error messages, and binds tokens
  std::string default_sort;  // api_name of the default sort field (KFP: created_at)
  std::vector<FieldSpec> fields;
  // Non-empty: page tokens carry an HMAC-SHA256 under this secret and unsigned or changed
  // tokens are refused. Tokens then live as long as the secret.
  std::string token_secret;

  const FieldSpec* Find(std::string_view api_name) const;
};

// KFP's listable resources and their fields (KFP's APIToModelFieldMap of each model: one map
// serves v1beta1 and v2beta1, so "id"/"run_id" and "name"/"display_name" work in both).
enum class KfpResource { kPipeline, kPipelineVersion, kExperiment, kRun, kRecurringRun };
// Rows for these schemas keep the id in Row::id and the other fields under their v2beta1 names:
// "display_name", "description", "namespace", "created_at" (milliseconds), and per resource
// "storage_state" ("AVAILABLE"/"ARCHIVED"; v1beta1's "STORAGESTATE_*" spellings are aliases),
// "status" (pipeline versions; runs: v1beta1's condition, "Succeeded"), "state" (runs: v2beta1's
// "SUCCEEDED"), "experiment_id", "pipeline_id", "pipeline_version_id", "recurring_run_id",
// "finished_at", "scheduled_at", "updated_at", "last_run_created_at" (milliseconds),
// "pipeline_name". Default sort: created_at; type names Pipeline, PipelineVersion, Experiment,
// Run, Job (KFP's, in "Invalid sorting field" messages).
ResourceSchema KfpSchema(KfpResource resource, std::string token_secret = {});

enum class FilterOp {
  kEquals = 1,
  kNotEquals = 2,
  kGreaterThan = 3,
  kGreaterThanEquals = 4,
  kLessThan = 5,
  kLessThanEquals = 6,
  kIn = 7,
  kIsSubstring = 8,
};
std::string_view FilterOpName(FilterOp op);

struct Predicate {
  // Which proto value field was set (KFP's error messages name the Go type).
  enum class Kind { kInt, kLong, kString, kTimestamp, kInts, kLongs, kStrings };

  FilterOp op = FilterOp::kEquals;
  std::string key;      // api name
  std::string row_key;  // resolved through the schema ("" = Row::id)
  FieldType type = FieldType::kString;
  Kind kind = Kind::kString;
  std::vector<int64_t> ints;         // kInt, kLong, kTimestamp (seconds), kInts, kLongs
  std::vector<std::string> strings;  // kString, kStrings: after aliases, lower-cased
};

struct Filter {
  std::vector<Predicate> predicates;  // ANDed
  // A canonical JSON text of the predicates (order-insensitive), to compare filters and to
  // carry one in a page token. Empty for no filter.
  std::string canonical;
  bool empty() const { return predicates.empty(); }
};

// Parses KFP's filter JSON (already URL-decoded once by the HTTP layer; KFP unescapes it once
// more, and so does this). An empty text is no filter.
Result<Filter> ParseFilter(ApiVersion version, std::string_view text, const ResourceSchema& schema);
// True when `row` satisfies every predicate.
bool Matches(const Filter& filter, const Row& row);

// The list parameters as strings from the URL query, URL-decoded.
struct ListParams {
  std::string page_token = {};
  std::string page_size = {};
  std::string sort_by = {};
  std::string filter = {};
};

struct SortSpec {
  std::string api_name;
  std::string row_key;  // "" = Row::id
  FieldType type = FieldType::kString;
  bool desc = false;
};

// Where the previous page ended: the last row's sort value and id.
struct Cursor {
  FieldValue value;
  std::string id;
};

struct ListQuery {
  int page_size = 20;
  SortSpec sort;
  Filter filter;
  std::optional<Cursor> after;
  // For the next page token.
  std::string type_name;
  std::string token_secret;
};

struct ListPage {
  std::vector<const Row*> items;  // point into the rows given to Apply
  std::string next_page_token;    // empty on the last page
  int64_t total_size = 0;         // rows matching the filter
};

inline constexpr int kDefaultPageSize = 20;
inline constexpr int kMaxPageSize = 200;

Result<ListQuery> ParseListQuery(ApiVersion version, const ListParams& params,
                                 const ResourceSchema& schema);
// Filters, sorts and pages `rows` (any order): one pass, O(n log page), no row copied. Rows
// with the same id must not appear twice.
ListPage Apply(const ListQuery& query, std::span<const Row* const> rows);
ListPage Apply(const ListQuery& query, std::span<const Row> rows);

// For rows kept unchanged across requests (a cache): the indexes of the rows that match
// `query`'s filter, in its sort order (O(n log n), once); then each page of the same filter and
// sort is a binary search for the cursor (ApplyOrdered), not a pass over every row.
// OrderKey names the order a query needs (its sort and filter), for keying such caches.
std::string OrderKey(const ListQuery& query);
std::vector<uint32_t> Order(const ListQuery& query, std::span<const Row* const> rows);
ListPage ApplyOrdered(const ListQuery& query, std::span<const Row* const> rows,
                      std::span<const uint32_t> order);

// The same over rows kept in the caller's own shape (no Row built per request): row i of `size`
// has id `id(i)` and field `field(i, row_key)` (FieldSpec::row_key, never empty: the id is asked
// through `id`). Returned views must stay valid until Apply returns. Called from Apply's thread
// only.
struct RowSource {
  size_t size = 0;
  std::function<std::string_view(size_t)> id = {};
  std::function<FieldRef(size_t, const std::string&)> field = {};
};
struct IndexPage {
  std::vector<size_t> items;    // indexes into the source, in page order
  std::string next_page_token;  // empty on the last page
  int64_t total_size = 0;       // rows matching the filter
};
IndexPage Apply(const ListQuery& query, const RowSource& source);

// The sort order Apply uses, exposed for callers that keep rows pre-sorted: negative, zero or
// positive as `a` sorts before, with or after `b` (ascending; ties broken by id).
int CompareForSort(const SortSpec& sort, const Row& a, const Row& b);

// KFP's error answer for `status`: the JSON body and the HTTP status grpc-gateway writes.
// v1beta1 (grpc-gateway v1, KFP 1.x): {"error": m, "code": c, "message": m, "details":
// [{"@type": "type.googleapis.com/api.Error", "error_message": m, "error_details": m}]}.
// v2beta1 (grpc-gateway v2): {"code": c, "message": m, "details": []}. c is the gRPC code.
std::string KfpErrorBody(const Status& status, ApiVersion version);
// grpc-gateway's HTTPStatusFromCode (InvalidArgument and FailedPrecondition 400, NotFound 404,
// AlreadyExists and Aborted 409, ...), which ignores Status::reason.
int KfpHttpStatus(const Status& status);

}  // namespace skiff::pipelines
