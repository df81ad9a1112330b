// The dashboard's file server without sockets: content types from the table, gzip negotiation
// (q=0 included), ETag/If-None-Match, cache headers, the single-page-app fallback versus the
// gateway's JSON 404 (the route predicate), HEAD, paths that try to leave the table, the
// security headers, and the asset table the build embedded.
#include "dashboard/dashboard.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace skiff::dashboard {
namespace {

using ::testing::HasSubstr;

const std::vector<Asset> kAssets = {
    {"/assets/index-abc123.js", "text/javascript; charset=utf-8", "console.log('app');",
     "GZ-JS-BYTES", "\"1111\""},
    {"/assets/logo-def456.png", "image/png", "PNGBYTES", "", "\"2222\""},
    {"/favicon.svg", "image/svg+xml", "<svg/>", "GZ-SVG", "\"3333\""},
    {"/index.html", "text/html; charset=utf-8", "<!doctype html><div id=\"app\"></div>", "GZ-HTML",
     "\"4444\""},
};

http::Request Get(std::string path, std::vector<std::pair<std::string, std::string>> headers = {},
                  std::string method = "GET") {
  http::Request req;
  req.method = std::move(method);
  req.path = std::move(path);
  req.target = req.path;
  for (auto& [k, v] : headers) req.headers.Add(k, v);
  return req;
}

std::string H(const http::Response& r, std::string_view name) {
  return std::string(r.headers.Get(name).value_or("<none>"));
}

void ExpectSecurityHeaders(const http::Response& r) {
  EXPECT_EQ(H(r, "Content-Security-Policy"), kContentSecurityPolicy);
  EXPECT_THAT(H(r, "Content-Security-Policy"), HasSubstr("frame-ancestors 'none'"));
  EXPECT_THAT(H(r, "Content-Security-Policy"), HasSubstr("default-src 'self'"));
  EXPECT_EQ(H(r, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(H(r, "Referrer-Policy"), "same-origin");
  EXPECT_EQ(H(r, "X-Frame-Options"), "DENY");
}

class DashboardTest : public ::testing::Test {
 protected:
  Dashboard dash_{kAssets};
};

TEST_F(DashboardTest, ServesFilesWithTheirContentTypes) {
  auto js = dash_.Handle(Get("/assets/index-abc123.js"));
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(H(js, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, "console.log('app');");
  EXPECT_EQ(H(js, "Content-Encoding"), "<none>");
  auto svg = dash_.Handle(Get("/favicon.svg"));
  EXPECT_EQ(H(svg, "Content-Type"), "image/svg+xml");
  auto png = dash_.Handle(Get("/assets/logo-def456.png"));
  EXPECT_EQ(H(png, "Content-Type"), "image/png");
  auto index = dash_.Handle(Get("/"));
  EXPECT_EQ(index.status, 200);
  EXPECT_EQ(H(index, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_THAT(index.body, HasSubstr("<div id=\"app\">"));
  EXPECT_EQ(dash_.Handle(Get("/index.html")).body, index.body);
}

TEST_F(DashboardTest, GzipWhenAcceptedAndNotWhenRefused) {
  auto gz =
      dash_.Handle(Get("/assets/index-abc123.js", {{"Accept-Encoding", "gzip, deflate, br"}}));
  EXPECT_EQ(gz.body, "GZ-JS-BYTES");
  EXPECT_EQ(H(gz, "Content-Encoding"), "gzip");
  EXPECT_EQ(H(gz, "Vary"), "Accept-Encoding");
  EXPECT_EQ(H(gz, "Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(H(gz, "ETag"), "\"1111-gz\"");

  for (const char* refused : {"gzip;q=0", "br, gzip; q=0", "identity", "deflate", "*;q=0",
                              "gzip;q=0, *", "x-gzip;q=0.000", "gzip;q=bogus"}) {
    auto plain = dash_.Handle(Get("/assets/index-abc123.js", {{"Accept-Encoding", refused}}));
    EXPECT_EQ(plain.body, "console.log('app');") << refused;
    EXPECT_EQ(H(plain, "Content-Encoding"), "<none>") << refused;
    // Caches must know the answer depends on Accept-Encoding either way.
    EXPECT_EQ(H(plain, "Vary"), "Accept-Encoding") << refused;
    EXPECT_EQ(H(plain, "ETag"), "\"1111\"") << refused;
  }
  for (const char* accepted :
       {"*", "gzip;q=0.5", "GZIP", "x-gzip", "br;q=1, *;q=0.1", "identity;q=1, gzip ; q=1"}) {
    auto r = dash_.Handle(Get("/assets/index-abc123.js", {{"Accept-Encoding", accepted}}));
    EXPECT_EQ(H(r, "Content-Encoding"), "gzip") << accepted;
  }
  // No gzip copy (PNG): never gzip, and no Vary.
  auto png = dash_.Handle(Get("/assets/logo-def456.png", {{"Accept-Encoding", "gzip"}}));
  EXPECT_EQ(png.body, "PNGBYTES");
  EXPECT_EQ(H(png, "Content-Encoding"), "<none>");
  EXPECT_EQ(H(png, "Vary"), "<none>");
}

TEST(AcceptsGzip, Negotiation) {
  EXPECT_TRUE(AcceptsGzip("gzip"));
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_FALSE(AcceptsGzip(""));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0.0, *;q=1"));  // explicit gzip wins over *
  EXPECT_TRUE(AcceptsGzip("*;q=0.001"));
  EXPECT_FALSE(AcceptsGzip("gzipx"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=2"));  // malformed: not accepted
}

TEST_F(DashboardTest, EtagAndIfNoneMatch) {
  auto first = dash_.Handle(Get("/index.html"));
  ASSERT_EQ(H(first, "ETag"), "\"4444\"");
  for (const char* inm : {"\"4444\"", "W/\"4444\"", "\"zzz\", \"4444\"", "*", "\"4444-gz\""}) {
    auto r = dash_.Handle(Get("/index.html", {{"If-None-Match", inm}}));
    EXPECT_EQ(r.status, 304) << inm;
    EXPECT_TRUE(r.body.empty()) << inm;
    EXPECT_EQ(H(r, "ETag"), "\"4444\"") << inm;
    EXPECT_EQ(H(r, "Cache-Control"), "no-cache") << inm;
    ExpectSecurityHeaders(r);
  }
  // The gzip representation's own tag.
  auto gz = dash_.Handle(
      Get("/index.html", {{"If-None-Match", "\"4444-gz\""}, {"Accept-Encoding", "gzip"}}));
  EXPECT_EQ(gz.status, 304);
  EXPECT_EQ(H(gz, "ETag"), "\"4444-gz\"");
  // Another file's tag, or a changed file, is a full answer.
  for (const char* inm : {"\"1111\"", "\"444\"", "4444", ""}) {
    auto r = dash_.Handle(Get("/index.html", {{"If-None-Match", inm}}));
    EXPECT_EQ(r.status, 200) << inm;
    EXPECT_THAT(r.body, HasSubstr("id=\"app\"")) << inm;
  }
}

TEST_F(DashboardTest, CacheHeaders) {
  EXPECT_EQ(H(dash_.Handle(Get("/assets/index-abc123.js")), "Cache-Control"),
            "public, max-age=31536000, immutable");
  EXPECT_EQ(H(dash_.Handle(Get("/assets/logo-def456.png")), "Cache-Control"),
            "public, max-age=31536000, immutable");
  EXPECT_EQ(H(dash_.Handle(Get("/")), "Cache-Control"), "no-cache");
  EXPECT_EQ(H(dash_.Handle(Get("/index.html")), "Cache-Control"), "no-cache");
  EXPECT_EQ(H(dash_.Handle(Get("/favicon.svg")), "Cache-Control"), "no-cache");
  EXPECT_EQ(H(dash_.Handle(Get("/models/team-a/iris", {{"Accept", "text/html"}})), "Cache-Control"),
            "no-cache");
}

TEST_F(DashboardTest, SinglePageAppFallbackForBrowsersOnly) {
  const std::string browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
  auto page = dash_.Handle(Get("/models/team-a/iris", {{"Accept", browser}}));
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(H(page, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_THAT(page.body, HasSubstr("<div id=\"app\">"));
  ExpectSecurityHeaders(page);

  auto api = dash_.Handle(Get("/models/team-a/iris", {{"Accept", "application/json"}}));
  EXPECT_EQ(api.status, 404);
  EXPECT_THAT(H(api, "Content-Type"), HasSubstr("application/json"));
  ExpectSecurityHeaders(api);
  // A missing hashed file is 404 even for a browser (HTML in place of a script helps no one).
  EXPECT_EQ(dash_.Handle(Get("/assets/index-old999.js", {{"Accept", browser}})).status, 404);

  // The gateway route's predicate: embedded files for anyone, other paths for browsers only.
  http::HeaderMap json_client;
  json_client.Add("Accept", "application/json");
  http::HeaderMap html_client;
  html_client.Add("Accept", browser);
  http::HeaderMap no_accept;
  EXPECT_TRUE(dash_.Wants("/", json_client));
  EXPECT_TRUE(dash_.Wants("/assets/index-abc123.js", no_accept));
  EXPECT_TRUE(dash_.Wants("/favicon.svg", json_client));
  EXPECT_FALSE(dash_.Wants("/nope", json_client));
  EXPECT_FALSE(dash_.Wants("/nope", no_accept));
  EXPECT_FALSE(dash_.Wants("/assets/index-abc123.jsx", json_client));
  EXPECT_TRUE(dash_.Wants("/nope", html_client));
  EXPECT_TRUE(dash_.Wants("/pipelines/runs/42", html_client));
}

TEST_F(DashboardTest, Head) {
  auto r = dash_.Handle(Get("/assets/index-abc123.js", {{"Accept-Encoding", "gzip"}}, "HEAD"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty());
  ASSERT_TRUE(r.head_content_length.has_value());
  EXPECT_EQ(*r.head_content_length, std::string("GZ-JS-BYTES").size());
  EXPECT_EQ(H(r, "Content-Encoding"), "gzip");
  EXPECT_EQ(H(r, "Content-Type"), "text/javascript; charset=utf-8");
  ExpectSecurityHeaders(r);
  auto index = dash_.Handle(Get("/", {}, "HEAD"));
  EXPECT_EQ(*index.head_content_length, kAssets[3].body.size());

  auto post = dash_.Handle(Get("/", {}, "POST"));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(H(post, "Allow"), "GET, HEAD");
  ExpectSecurityHeaders(post);
}

TEST_F(DashboardTest, PathsOutsideTheTableFindNothing) {
  // The server normalizes paths before they get here; whatever reaches the handler is looked up
  // literally, so no spelling reaches anything but the table's exact entries.
  for (const char* path :
       {"/../index.html", "/assets/../index.html", "/assets/%2e%2e/index.html",
        "/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2findex.html", "/assets//index-abc123.js",
        "/assets/index-abc123.js/", "//index.html", "/index.html%00", "/ASSETS/index-abc123.js",
        "/etc/passwd", "/assets/", "/assets", "", "index.html", "/./favicon.svg"}) {
    EXPECT_EQ(dash_.Find(path), nullptr) << path;
    auto r = dash_.Handle(Get(path, {{"Accept", "application/json"}}));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_THAT(r.body, ::testing::Not(HasSubstr("console.log"))) << path;
    ExpectSecurityHeaders(r);
  }
  // A browser gets the app's index for such paths (its router says "not found"), never a file.
  auto r = dash_.Handle(Get("/../../etc/passwd", {{"Accept", "text/html"}}));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kAssets[3].body);
}

TEST(DashboardNotBuilt, HtmlSaysHowToBuildIt) {
  Dashboard dash({}, /*built=*/false);
  auto r = dash.Handle(Get("/", {{"Accept", "text/html"}}));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(H(r, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("SKIFF_WEB"));
  EXPECT_THAT(r.body, HasSubstr("scripts/peers.sh"));
  ExpectSecurityHeaders(r);
  http::HeaderMap json_client;
  json_client.Add("Accept", "application/json");
  EXPECT_FALSE(dash.Wants("/", json_client));
  EXPECT_EQ(dash.Handle(Get("/", {{"Accept", "application/json"}})).status, 404);
}

// The table the build embedded (cmake/embed_web.py): with SKIFF_WEB=ON, the Vite build's
// index.html and the hashed assets it references, each with a type, a strong tag and gzip.
TEST(EmbeddedAssets, TableFromTheBuild) {
  auto assets = EmbeddedAssets();
  if (!EmbeddedAssetsBuilt()) {
    EXPECT_TRUE(assets.empty());
    GTEST_SKIP() << "built with SKIFF_WEB=OFF";
  }
  Dashboard dash(assets);
  const Asset* index = dash.Find("/");
  ASSERT_NE(index, nullptr);
  EXPECT_THAT(std::string(index->body), HasSubstr("<div id=\"app\">"));
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  int scripts = 0;
  int loaded_by_index = 0;
  std::string previous;
  for (const Asset& a : assets) {
    EXPECT_GT(std::string(a.path), previous) << "sorted, no duplicates";
    previous = std::string(a.path);
    ASSERT_EQ(a.etag.size(), 34u) << a.path;
    EXPECT_EQ(a.etag.front(), '"');
    EXPECT_EQ(a.etag.back(), '"');
    if (a.path.ends_with(".js")) {
      ++scripts;
      EXPECT_EQ(a.content_type, "text/javascript; charset=utf-8") << a.path;
      EXPECT_TRUE(a.path.starts_with("/assets/")) << a.path;
      EXPECT_FALSE(a.gzip.empty()) << a.path;
      EXPECT_LT(a.gzip.size(), a.body.size()) << a.path;
      EXPECT_EQ(a.gzip.substr(0, 2), std::string_view("\x1f\x8b", 2)) << a.path;
      if (index->body.find(a.path) != std::string_view::npos) ++loaded_by_index;
    }
    if (a.path.ends_with(".css")) {
      EXPECT_EQ(a.content_type, "text/css; charset=utf-8");
    }
  }
  EXPECT_GE(scripts, 1);
  EXPECT_GE(loaded_by_index, 1) << "index.html loads the app's entry script";
}

}  // namespace
}  // namespace skiff::dashboard
