// The LDAP connector, configured as Dex's (connector/ldap/ldap.go), over OpenLDAP's libldap.
//
// Login: refuse an empty password (no LDAP traffic at all: an empty simple bind is an
// unauthenticated bind that many servers accept), connect (ldaps:// by default, ldap:// with
// StartTLS, or plain with insecureNoSSL), bind as bindDN, search userSearch for exactly one
// entry whose `username` attribute equals the escaped input, bind as that entry's DN with the
// password, bind back as bindDN and search groupSearch for each userMatcher. Every call has a
// network and an operation time-out. TLS certificates are verified unless insecureSkipVerify.

#include <ldap.h>
#include <sys/time.h>

#include <algorithm>
#include <cstring>

#include "core/log.hpp"
#include "identity/connector.hpp"

namespace skiff::identity {

std::string LdapEscapeFilterValue(std::string_view value) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0 || c >= 0x80) {
      out += '\\';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

struct UserMatcher {
  std::string user_attr;
  std::string group_attr;
};

struct LdapConfig {
  std::string host;
  bool insecure_no_ssl = false;
  bool insecure_skip_verify = false;
  bool start_tls = false;
  std::string root_ca;
  std::string bind_dn;
  std::string bind_pw;
  std::string username_prompt = "Username";
  int timeout_seconds = 10;
  // userSearch
  std::string user_base_dn, user_filter, user_username, id_attr, email_attr, name_attr,
      preferred_username_attr, email_suffix;
  bool user_scope_one = false;
  // groupSearch
  std::string group_base_dn, group_filter, group_name_attr;
  bool group_scope_one = false;
  std::vector<UserMatcher> matchers;
};

// Owns an LDAP handle.
struct LdapHandle {
  LDAP* ld = nullptr;
  ~LdapHandle() {
    if (ld) ldap_unbind_ext_s(ld, nullptr, nullptr);
  }
};

struct Message {
  LDAPMessage* m = nullptr;
  ~Message() {
    if (m) ldap_msgfree(m);
  }
};

Status LdapError(std::string_view what, int rc) {
  std::string msg = "ldap: " + std::string(what) + ": " + ldap_err2string(rc);
  if (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_UNAVAILABLE ||
      rc == LDAP_BUSY) {
    return Unavailable(msg);
  }
  if (rc == LDAP_TIMEOUT || rc == LDAP_TIMELIMIT_EXCEEDED) return DeadlineExceeded(msg);
  return Internal(msg);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class LdapConnector final : public Connector {
 public:
  LdapConnector(std::string id, std::string name, LdapConfig config) : c_(std::move(config)) {
    id_ = std::move(id);
    name_ = std::move(name);
    type_ = "ldap";
    prompt_ = c_.username_prompt;
  }
  Pool pool() const override { return Pool::kBlocking; }

  Result<Identity> Login(std::string_view username, std::string_view password) const override {
    if (password.empty()) return InvalidArgument("empty password");
    if (username.empty()) return Unauthenticated("invalid username or password");
    if (username.find('\0') != username.npos || password.find('\0') != password.npos) {
      return Unauthenticated("invalid username or password");
    }
    LdapHandle h;
    SKIFF_RETURN_IF_ERROR(Connect(h));
    SKIFF_RETURN_IF_ERROR(ServiceBind(h));
    Message res;
    SKIFF_ASSIGN_OR_RETURN(LDAPMessage * entry, FindUser(h, username, &res));
    SKIFF_ASSIGN_OR_RETURN(std::string dn, DnOf(h, entry));
    // The user's bind: the password check.
    SKIFF_RETURN_IF_ERROR(SimpleBind(h, dn, password, /*is_user=*/true));
    return BuildIdentity(h, entry, dn, username);
  }

  // As Dex: the user is looked up again with the service account (no password), must still be
  // the same entry, and gets fresh attributes and groups.
  Result<Identity> Refresh(const Identity& previous) const override {
    if (previous.login.empty()) return Unauthenticated("the user must log in again");
    LdapHandle h;
    SKIFF_RETURN_IF_ERROR(Connect(h));
    SKIFF_RETURN_IF_ERROR(ServiceBind(h));
    Message res;
    SKIFF_ASSIGN_OR_RETURN(LDAPMessage * entry, FindUser(h, previous.login, &res));
    SKIFF_ASSIGN_OR_RETURN(std::string dn, DnOf(h, entry));
    SKIFF_ASSIGN_OR_RETURN(Identity fresh, BuildIdentity(h, entry, dn, previous.login));
    if (fresh.user_id != previous.user_id) {
      return Unauthenticated("the user's directory entry has changed");
    }
    return fresh;
  }

 private:
  // The single entry whose username attribute equals `username` (escaped). `res` owns it.
  Result<LDAPMessage*> FindUser(LdapHandle& h, std::string_view username, Message* res) const {
    std::string filter = "(" + c_.user_username + "=" + LdapEscapeFilterValue(username) + ")";
    if (!c_.user_filter.empty()) filter = "(&" + c_.user_filter + filter + ")";
    std::vector<std::string> attrs = {c_.id_attr, c_.email_attr, c_.name_attr,
                                      c_.preferred_username_attr, c_.user_username};
    for (const auto& m : c_.matchers) attrs.push_back(m.user_attr);
    SKIFF_RETURN_IF_ERROR(Search(h, c_.user_base_dn, c_.user_scope_one, filter, attrs, res));
    int n = res->m ? ldap_count_entries(h.ld, res->m) : 0;
    if (n == 0) return Unauthenticated("invalid username or password");
    if (n > 1) {
      return FailedPrecondition("ldap: user search matched " + std::to_string(n) +
                                " entries; the filter must match exactly one");
    }
    return ldap_first_entry(h.ld, res->m);
  }

  static Result<std::string> DnOf(LdapHandle& h, LDAPMessage* entry) {
    char* dn_c = ldap_get_dn(h.ld, entry);
    if (dn_c == nullptr) return Internal("ldap: entry without a DN");
    std::string dn = dn_c;
    ldap_memfree(dn_c);
    return dn;
  }

  Result<Identity> BuildIdentity(LdapHandle& h, LDAPMessage* entry, const std::string& dn,
                                 std::string_view username) const {
    Identity id;
    id.connector_id = id_;
    id.login = std::string(username);
    auto first = [&](const std::string& attr) -> std::string {
      if (attr.empty()) return {};
      auto vals = Values(h, entry, dn, attr);
      return vals.empty() ? std::string() : vals.front();
    };
    id.user_id = first(c_.id_attr);
    if (id.user_id.empty()) {
      return FailedPrecondition("ldap: user entry has no \"" + c_.id_attr + "\" attribute");
    }
    id.email = first(c_.email_attr);
    if (id.email.empty() && !c_.email_suffix.empty()) {
      id.email = first(c_.user_username) + "@" + c_.email_suffix;
    }
    if (id.email.empty()) {
      return FailedPrecondition("ldap: user entry has no \"" + c_.email_attr + "\" attribute");
    }
    id.email_verified = true;
    id.username = first(c_.name_attr);
    id.preferred_username = first(c_.preferred_username_attr);
    if (id.preferred_username.empty()) id.preferred_username = std::string(username);

    if (!c_.group_base_dn.empty() && !c_.matchers.empty()) {
      // Groups are read with the service account, as Dex does.
      SKIFF_RETURN_IF_ERROR(ServiceBind(h));
      for (const auto& m : c_.matchers) {
        for (const auto& value : Values(h, entry, dn, m.user_attr)) {
          std::string gf = "(" + m.group_attr + "=" + LdapEscapeFilterValue(value) + ")";
          if (!c_.group_filter.empty()) gf = "(&" + c_.group_filter + gf + ")";
          Message gres;
          SKIFF_RETURN_IF_ERROR(
              Search(h, c_.group_base_dn, c_.group_scope_one, gf, {c_.group_name_attr}, &gres));
          if (gres.m == nullptr) continue;
          for (LDAPMessage* g = ldap_first_entry(h.ld, gres.m); g != nullptr;
               g = ldap_next_entry(h.ld, g)) {
            for (auto& name : Values(h, g, "", c_.group_name_attr)) {
              if (std::find(id.groups.begin(), id.groups.end(), name) == id.groups.end()) {
                id.groups.push_back(std::move(name));
              }
            }
          }
        }
      }
    }
    return id;
  }

  Status Connect(LdapHandle& h) const {
    std::string scheme = (c_.insecure_no_ssl || c_.start_tls) ? "ldap://" : "ldaps://";
    std::string url = scheme + c_.host;
    int rc = ldap_initialize(&h.ld, url.c_str());
    if (rc != LDAP_SUCCESS) return LdapError("cannot use host \"" + c_.host + "\"", rc);
    int version = LDAP_VERSION3;
    ldap_set_option(h.ld, LDAP_OPT_PROTOCOL_VERSION, &version);
    ldap_set_option(h.ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
    timeval tv{c_.timeout_seconds, 0};
    ldap_set_option(h.ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
    ldap_set_option(h.ld, LDAP_OPT_TIMEOUT, &tv);
    if (!c_.insecure_no_ssl) {
      int require = c_.insecure_skip_verify ? LDAP_OPT_X_TLS_NEVER : LDAP_OPT_X_TLS_DEMAND;
      rc = ldap_set_option(h.ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require);
      if (rc != LDAP_SUCCESS) return LdapError("TLS options", rc);
      if (!c_.root_ca.empty()) {
        rc = ldap_set_option(h.ld, LDAP_OPT_X_TLS_CACERTFILE, c_.root_ca.c_str());
        if (rc != LDAP_SUCCESS) return LdapError("rootCA " + c_.root_ca, rc);
      }
      int is_server = 0;
      // Options on a handle take effect only in a new TLS context.
      rc = ldap_set_option(h.ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
      if (rc != LDAP_SUCCESS) return LdapError("TLS context", rc);
    }
    if (c_.start_tls) {
      rc = ldap_start_tls_s(h.ld, nullptr, nullptr);
      if (rc != LDAP_SUCCESS) return LdapError("StartTLS with " + c_.host, rc);
    }
    return Status::Ok();
  }

  Status ServiceBind(LdapHandle& h) const {
    if (c_.bind_dn.empty()) return Status::Ok();  // anonymous search, as configured
    return SimpleBind(h, c_.bind_dn, c_.bind_pw, /*is_user=*/false);
  }

  Status SimpleBind(LdapHandle& h, const std::string& dn, std::string_view password,
                    bool is_user) const {
    berval cred;
    std::string pw(password);
    cred.bv_val = pw.data();
    cred.bv_len = pw.size();
    int rc = ldap_sasl_bind_s(h.ld, dn.c_str(), LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
    std::fill(pw.begin(), pw.end(), '\0');
    if (rc == LDAP_SUCCESS) return Status::Ok();
    if (is_user && rc == LDAP_INVALID_CREDENTIALS) {
      return Unauthenticated("invalid username or password");
    }
    if (!is_user && rc == LDAP_INVALID_CREDENTIALS) {
      return FailedPrecondition("ldap: bindDN/bindPW refused by the server");
    }
    return LdapError(is_user ? "user bind" : "service bind", rc);
  }

  Status Search(LdapHandle& h, const std::string& base, bool scope_one, const std::string& filter,
                const std::vector<std::string>& attrs, Message* out) const {
    std::vector<char*> attr_ptrs;
    for (const auto& a : attrs) {
      if (!a.empty() && Lower(a) != "dn") attr_ptrs.push_back(const_cast<char*>(a.c_str()));
    }
    if (attr_ptrs.empty()) attr_ptrs.push_back(const_cast<char*>(LDAP_NO_ATTRS));
    attr_ptrs.push_back(nullptr);
    timeval tv{c_.timeout_seconds, 0};
    int rc =
        ldap_search_ext_s(h.ld, base.c_str(), scope_one ? LDAP_SCOPE_ONELEVEL : LDAP_SCOPE_SUBTREE,
                          filter.c_str(), attr_ptrs.data(), 0, nullptr, nullptr, &tv,
                          /*sizelimit=*/100, &out->m);
    if (rc == LDAP_NO_SUCH_OBJECT) {
      // A configuration error, not a wrong password: say so to the operator (log, 503 page).
      return FailedPrecondition("ldap: search base \"" + base + "\" does not exist");
    }
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) return LdapError("search", rc);
    return Status::Ok();
  }

  // Values of `attr` on `entry`; the pseudo attribute "DN" is the entry's DN.
  std::vector<std::string> Values(LdapHandle& h, LDAPMessage* entry, const std::string& dn,
                                  const std::string& attr) const {
    std::vector<std::string> out;
    if (Lower(attr) == "dn") {
      if (!dn.empty()) {
        out.push_back(dn);
      } else if (char* d = ldap_get_dn(h.ld, entry)) {
        out.emplace_back(d);
        ldap_memfree(d);
      }
      return out;
    }
    berval** vals = ldap_get_values_len(h.ld, entry, attr.c_str());
    if (vals == nullptr) return out;
    for (int i = 0; vals[i] != nullptr; i++) out.emplace_back(vals[i]->bv_val, vals[i]->bv_len);
    ldap_value_free_len(vals);
    return out;
  }

  LdapConfig c_;
};

Result<std::string> Str(const json::object& o, std::string_view key, const std::string& field,
                        bool required, std::string fallback = {}) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    if (required) return InvalidArgument(field + "." + std::string(key) + ": required");
    return fallback;
  }
  if (!v->is_string()) {
    return InvalidArgument(field + "." + std::string(key) + ": must be a string");
  }
  return std::string(v->as_string());
}

Result<bool> Bool(const json::object& o, std::string_view key, const std::string& field) {
  auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return false;
  if (!v->is_bool()) return InvalidArgument(field + "." + std::string(key) + ": must be a boolean");
  return v->as_bool();
}

Result<bool> ScopeOne(const json::object& o, const std::string& field) {
  SKIFF_ASSIGN_OR_RETURN(std::string scope, Str(o, "scope", field, false, "sub"));
  if (scope == "sub" || scope.empty()) return false;
  if (scope == "one") return true;
  return InvalidArgument(field + ".scope: must be \"sub\" or \"one\"");
}

Status CheckFilter(const std::string& filter, const std::string& field) {
  if (filter.empty()) return Status::Ok();
  if (filter.front() != '(' || filter.back() != ')') {
    return InvalidArgument(field + ": an LDAP filter must be enclosed in parentheses");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Connector>> CreateLdapConnector(std::string id, std::string name,
                                                       const json::object& o,
                                                       std::string_view field_view) {
  std::string field(field_view);
  LdapConfig c;
  SKIFF_ASSIGN_OR_RETURN(c.host, Str(o, "host", field, true));
  SKIFF_ASSIGN_OR_RETURN(c.insecure_no_ssl, Bool(o, "insecureNoSSL", field));
  SKIFF_ASSIGN_OR_RETURN(c.insecure_skip_verify, Bool(o, "insecureSkipVerify", field));
  SKIFF_ASSIGN_OR_RETURN(c.start_tls, Bool(o, "startTLS", field));
  SKIFF_ASSIGN_OR_RETURN(c.root_ca, Str(o, "rootCA", field, false));
  SKIFF_ASSIGN_OR_RETURN(c.bind_dn, Str(o, "bindDN", field, false));
  SKIFF_ASSIGN_OR_RETURN(c.bind_pw, Str(o, "bindPW", field, false));
  SKIFF_ASSIGN_OR_RETURN(c.username_prompt, Str(o, "usernamePrompt", field, false, "Username"));
  if (c.insecure_no_ssl && c.start_tls) {
    return InvalidArgument(field + ": insecureNoSSL and startTLS exclude each other");
  }
  if (c.host.find("://") != std::string::npos) {
    return InvalidArgument(field + ".host: give host:port without a scheme");
  }
  if (c.host.find(':') == std::string::npos) {
    c.host += (c.insecure_no_ssl || c.start_tls) ? ":389" : ":636";
  }
  if (auto* t = o.if_contains("timeoutSeconds")) {
    if (!t->is_int64() || t->as_int64() < 1 || t->as_int64() > 300) {
      return InvalidArgument(field + ".timeoutSeconds: must be an integer from 1 to 300");
    }
    c.timeout_seconds = static_cast<int>(t->as_int64());
  }
  const json::object* us = GetObject(o, "userSearch");
  if (us == nullptr) return InvalidArgument(field + ".userSearch: required");
  std::string uf = field + ".userSearch";
  SKIFF_ASSIGN_OR_RETURN(c.user_base_dn, Str(*us, "baseDN", uf, true));
  SKIFF_ASSIGN_OR_RETURN(c.user_filter, Str(*us, "filter", uf, false));
  SKIFF_RETURN_IF_ERROR(CheckFilter(c.user_filter, uf + ".filter"));
  SKIFF_ASSIGN_OR_RETURN(c.user_username, Str(*us, "username", uf, true));
  SKIFF_ASSIGN_OR_RETURN(c.id_attr, Str(*us, "idAttr", uf, false, "uid"));
  SKIFF_ASSIGN_OR_RETURN(c.email_attr, Str(*us, "emailAttr", uf, false, "mail"));
  SKIFF_ASSIGN_OR_RETURN(c.name_attr, Str(*us, "nameAttr", uf, false));
  SKIFF_ASSIGN_OR_RETURN(c.preferred_username_attr, Str(*us, "preferredUsernameAttr", uf, false));
  SKIFF_ASSIGN_OR_RETURN(c.email_suffix, Str(*us, "emailSuffix", uf, false));
  SKIFF_ASSIGN_OR_RETURN(c.user_scope_one, ScopeOne(*us, uf));
  if (const json::object* gs = GetObject(o, "groupSearch")) {
    std::string gf = field + ".groupSearch";
    SKIFF_ASSIGN_OR_RETURN(c.group_base_dn, Str(*gs, "baseDN", gf, true));
    SKIFF_ASSIGN_OR_RETURN(c.group_filter, Str(*gs, "filter", gf, false));
    SKIFF_RETURN_IF_ERROR(CheckFilter(c.group_filter, gf + ".filter"));
    SKIFF_ASSIGN_OR_RETURN(c.group_name_attr, Str(*gs, "nameAttr", gf, false, "cn"));
    SKIFF_ASSIGN_OR_RETURN(c.group_scope_one, ScopeOne(*gs, gf));
    if (auto* ms = gs->if_contains("userMatchers")) {
      if (!ms->is_array()) return InvalidArgument(gf + ".userMatchers: must be a list");
      size_t i = 0;
      for (const auto& m : ms->as_array()) {
        std::string mf = gf + ".userMatchers[" + std::to_string(i++) + "]";
        if (!m.is_object()) return InvalidArgument(mf + ": must be an object");
        UserMatcher um;
        SKIFF_ASSIGN_OR_RETURN(um.user_attr, Str(m.as_object(), "userAttr", mf, true));
        SKIFF_ASSIGN_OR_RETURN(um.group_attr, Str(m.as_object(), "groupAttr", mf, true));
        c.matchers.push_back(std::move(um));
      }
    }
    // Dex's older single-matcher form.
    SKIFF_ASSIGN_OR_RETURN(std::string ua, Str(*gs, "userAttr", gf, false));
    SKIFF_ASSIGN_OR_RETURN(std::string ga, Str(*gs, "groupAttr", gf, false));
    if (!ua.empty() || !ga.empty()) {
      if (ua.empty() || ga.empty()) {
        return InvalidArgument(gf + ": userAttr and groupAttr go together");
      }
      c.matchers.push_back({ua, ga});
    }
    if (c.matchers.empty()) return InvalidArgument(gf + ".userMatchers: required");
  }
  if (!c.root_ca.empty() && c.insecure_no_ssl) {
    return InvalidArgument(field + ".rootCA: has no effect with insecureNoSSL");
  }
  return std::unique_ptr<Connector>(
      std::make_unique<LdapConnector>(std::move(id), std::move(name), std::move(c)));
}

}  // namespace skiff::identity
