#include "dashboard/dashboard.hpp"

#include <cctype>
#include <cstdlib>
#include <optional>

#include "core/status.hpp"
#include "http/router.hpp"

namespace skiff::dashboard {

namespace {

// Splits a comma-separated header value into trimmed, non-empty items.
template <class F>
void ForEachItem(std::string_view value, F&& f) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view item = http::TrimOws(value.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// The q value of a "token;q=0.5;x=y" item (1 when absent; 0 when malformed: a client that
// sends garbage does not get a representation it may not understand).
double QValue(std::string_view params) {
  while (!params.empty()) {
    size_t semi = params.find(';');
    std::string_view p = http::TrimOws(params.substr(0, semi));
    if (p.size() >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
      std::string v(http::TrimOws(p.substr(2)));
      if (v.empty() || v.size() > 5) return 0;
      char* end = nullptr;
      double q = std::strtod(v.c_str(), &end);
      if (end != v.c_str() + v.size() || q < 0 || q > 1) return 0;
      return q;
    }
    if (semi == std::string_view::npos) break;
    params.remove_prefix(semi + 1);
  }
  return 1;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string GzipEtag(std::string_view etag) {
  if (etag.size() < 2 || etag.back() != '"') return std::string(etag) + "-gz";
  return std::string(etag.substr(0, etag.size() - 1)) + "-gz\"";
}

constexpr std::string_view kNotBuiltPage = R"(<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Skiff: dashboard not built</title></head>
<body>
<h1>Skiff's dashboard is not in this binary</h1>
<p>This skiff was built without its web dashboard (CMake option <code>SKIFF_WEB=OFF</code>).
Everything else works: the Kubernetes-style API (<code>kubectl</code>, <code>skiff get</code>),
model serving, pipelines and routing.</p>
<p>To build the dashboard in: install the web app's packages with <code>scripts/peers.sh</code>
(or <code>make deps</code>), configure with <code>-DSKIFF_WEB=ON</code> (the default) and
rebuild, for instance <code>make build</code>; then restart skiff.</p>
</body>
</html>
)";

}  // namespace

bool AcceptsGzip(std::string_view accept_encoding) {
  std::optional<double> gzip_q;
  std::optional<double> star_q;
  ForEachItem(accept_encoding, [&](std::string_view item) {
    size_t semi = item.find(';');
    std::string coding = Lower(http::TrimOws(item.substr(0, semi)));
    double q = semi == std::string_view::npos ? 1 : QValue(item.substr(semi + 1));
    if (coding == "gzip" || coding == "x-gzip") {
      gzip_q = std::max(gzip_q.value_or(0), q);
    } else if (coding == "*") {
      star_q = std::max(star_q.value_or(0), q);
    }
  });
  if (gzip_q) return *gzip_q > 0;
  return star_q && *star_q > 0;
}

bool IfNoneMatchMatches(std::string_view if_none_match,
                        std::initializer_list<std::string_view> etags) {
  bool matched = false;
  ForEachItem(if_none_match, [&](std::string_view tag) {
    if (tag == "*") {
      matched = true;
      return;
    }
    if (tag.size() > 2 && tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    for (std::string_view e : etags) {
      if (!e.empty() && tag == e) matched = true;
    }
  });
  return matched;
}

bool AcceptsHtml(const http::HeaderMap& headers) {
  for (std::string_view accept : headers.GetAll("Accept")) {
    if (Lower(accept).find("text/html") != std::string::npos) return true;
  }
  return false;
}

void AddSecurityHeaders(http::HeaderMap& headers) {
  headers.Set("Content-Security-Policy", kContentSecurityPolicy);
  headers.Set("X-Content-Type-Options", "nosniff");
  headers.Set("Referrer-Policy", "same-origin");
  headers.Set("X-Frame-Options", "DENY");
}

Dashboard::Dashboard(std::span<const Asset> assets, bool built) : built_(built) {
  for (const Asset& a : assets) by_path_.emplace(a.path, &a);
  index_ = Find("/index.html");
}

const Asset* Dashboard::Find(std::string_view path) const {
  if (path == "/") path = "/index.html";
  auto it = by_path_.find(path);
  return it == by_path_.end() ? nullptr : it->second;
}

bool Dashboard::Wants(std::string_view path, const http::HeaderMap& headers) const {
  return Find(path) != nullptr || AcceptsHtml(headers);
}

http::Response Dashboard::Handle(const http::Request& req) const {
  http::Response r;
  if (req.method != "GET" && req.method != "HEAD") {
    r = http::ErrorResponse(405, "MethodNotAllowed", "the dashboard answers GET and HEAD only");
    r.headers.Set("Allow", "GET, HEAD");
  } else if (const Asset* asset = Find(req.path)) {
    return Serve(req, *asset, req.path.rfind("/assets/", 0) == 0);
  } else if (!AcceptsHtml(req.headers) || req.path.rfind("/assets/", 0) == 0) {
    r = http::ErrorResponse(404, "NotFound", "no dashboard file at " + req.path);
  } else if (index_ == nullptr || !built_) {
    return NotBuilt();
  } else {
    return Serve(req, *index_, /*immutable=*/false);  // the single-page app's own paths
  }
  AddSecurityHeaders(r.headers);
  r.headers.Set("Cache-Control", "no-store");
  return r;
}

http::Response Dashboard::Serve(const http::Request& req, const Asset& asset,
                                bool immutable) const {
  const bool has_gzip = !asset.gzip.empty();
  const bool gzip =
      has_gzip && AcceptsGzip(req.headers.Get("Accept-Encoding").value_or(std::string_view()));
  std::string gzip_etag = has_gzip ? GzipEtag(asset.etag) : std::string();
  http::Response r;
  AddSecurityHeaders(r.headers);
  r.headers.Set("Cache-Control", immutable ? kImmutableCaching : std::string_view("no-cache"));
  if (has_gzip) r.headers.Set("Vary", "Accept-Encoding");
  r.headers.Set("ETag", gzip ? std::string_view(gzip_etag) : asset.etag);
  if (auto inm = req.headers.Get("If-None-Match");
      inm && IfNoneMatchMatches(*inm, {asset.etag, gzip_etag})) {
    r.status = 304;
    return r;
  }
  r.status = 200;
  r.headers.Set("Content-Type", asset.content_type);
  if (gzip) r.headers.Set("Content-Encoding", "gzip");
  std::string_view body = gzip ? asset.gzip : asset.body;
  if (req.method == "HEAD") {
    r.head_content_length = body.size();
  } else {
    r.body.assign(body);
  }
  return r;
}

http::Response Dashboard::NotBuilt() const {
  http::Response r;
  r.status = 404;
  r.headers.Set("Content-Type", "text/html; charset=utf-8");
  r.headers.Set("Cache-Control", "no-store");
  AddSecurityHeaders(r.headers);
  r.body.assign(kNotBuiltPage);
  return r;
}

}  // namespace skiff::dashboard
