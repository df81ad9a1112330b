#pragma once
// Shared helpers of the identity tests: a temporary directory, inline task runners, requests
// built by hand and the login form driven like a browser.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <regex>
#include <string>

#include "http/http.hpp"

namespace skiff::identity::testing {

class TmpDir {
 public:
  TmpDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "skiff-id-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TmpDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs tasks at once on the calling thread, so handlers complete before Handle returns.
class InlineRunner final : public http::TaskRunner {
 public:
  void Post(std::function<void()> task) override {
    posted++;
    task();
  }
  int posted = 0;
};

inline http::Request MakeRequest(std::string method, std::string target, std::string body = "",
                                 std::map<std::string, std::string> headers = {}) {
  http::Request r;
  r.method = std::move(method);
  r.target = target;
  size_t q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.raw_query = target.substr(q + 1);
  r.body = std::move(body);
  r.remote_addr = "127.0.0.1:40000";
  for (const auto& [k, v] : headers) r.headers.Set(k, v);
  if (!r.body.empty() && !r.headers.Has("Content-Type")) {
    r.headers.Set("Content-Type", "application/x-www-form-urlencoded");
  }
  return r;
}

inline std::string FormValue(const std::string& html, const std::string& name) {
  std::regex re("name=\"" + name + "\" value=\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(html, m, re) ? m[1].str() : "";
}

inline std::string QueryValue(const std::string& url, const std::string& name) {
  size_t q = url.find('?');
  if (q == std::string::npos) return "";
  std::string rest = url.substr(q + 1);
  size_t i = 0;
  while (i <= rest.size()) {
    size_t j = rest.find('&', i);
    if (j == std::string::npos) j = rest.size();
    std::string pair = rest.substr(i, j - i);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      auto v = http::PercentDecode(eq == std::string::npos ? "" : pair.substr(eq + 1), true);
      return v ? *v : "";
    }
    i = j + 1;
  }
  return "";
}

inline std::string Form(const std::vector<std::pair<std::string, std::string>>& kv) {
  std::string out;
  for (const auto& [k, v] : kv) {
    if (!out.empty()) out += '&';
    out += http::PercentEncode(k) + "=" + http::PercentEncode(v);
  }
  return out;
}

}  // namespace skiff::identity::testing
