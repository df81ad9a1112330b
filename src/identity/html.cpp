#include "identity/html.hpp"

namespace skiff::identity {

namespace {

std::string Page(std::string_view title, const std::string& main) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
  out += HtmlEscape(title);
  out +=
      "</title>\n<style>body{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem "
      "auto;padding:0 1rem;color:#1b1b1b}label{display:block;margin-top:1rem;font-weight:600}"
      "input{display:block;width:100%;box-sizing:border-box;padding:.5rem;margin-top:.25rem;"
      "font-size:1rem}button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem}"
      ".error{color:#a00;border:1px solid #a00;padding:.5rem;margin-top:1rem}"
      "li{margin:.5rem 0}</style>\n</head>\n<body>\n<main>\n<h1>";
  out += HtmlEscape(title);
  out += "</h1>\n";
  out += main;
  out += "</main>\n</body>\n</html>\n";
  return out;
}

}  // namespace

std::string RenderLogin(const LoginPage& p) {
  std::string m;
  if (!p.error.empty()) {
    m += "<p class=\"error\" role=\"alert\" id=\"login-error\">" + HtmlEscape(p.error) + "</p>\n";
  }
  m += "<form method=\"post\" action=\"" + HtmlEscape(p.action) + "\">\n";
  m += "<input type=\"hidden\" name=\"req\" value=\"" + HtmlEscape(p.request_id) + "\">\n";
  m += "<input type=\"hidden\" name=\"csrf\" value=\"" + HtmlEscape(p.csrf) + "\">\n";
  m += "<label for=\"login\">" + HtmlEscape(p.username_prompt) + "</label>\n";
  m += "<input id=\"login\" name=\"login\" type=\"text\" autocomplete=\"username\" required "
       "autofocus value=\"" +
       HtmlEscape(p.username) + "\"" +
       (p.error.empty() ? "" : " aria-describedby=\"login-error\"") + ">\n";
  m += "<label for=\"password\">Password</label>\n";
  m += "<input id=\"password\" name=\"password\" type=\"password\" "
       "autocomplete=\"current-password\" required>\n";
  m += "<button type=\"submit\">Log in</button>\n</form>\n";
  return Page(p.title, m);
}

std::string RenderChooser(const std::vector<ChooserEntry>& entries) {
  std::string m = "<nav aria-label=\"Login methods\"><ul>\n";
  for (const auto& e : entries) {
    m += "<li><a href=\"" + HtmlEscape(e.href) + "\">Log in with " + HtmlEscape(e.name) +
         "</a></li>\n";
  }
  m += "</ul></nav>\n";
  return Page("Log in to Skiff", m);
}

std::string RenderError(std::string_view title, std::string_view message) {
  return Page(title, "<p role=\"alert\">" + HtmlEscape(message) + "</p>\n");
}

}  // namespace skiff::identity
