#include "authz/registration.hpp"

#include <atomic>
#include <unordered_set>

#include "api/validation.hpp"
#include "authz/profile.hpp"
#include "core/log.hpp"

namespace skiff::authz {

namespace {

constexpr size_t kMaxBaseLength = 57;  // 63 minus room for "-NNNNN"

// Lower-cases and replaces every run of characters outside [a-z0-9] with one '-'.
std::string Sanitise(std::string_view s) {
  std::string out;
  bool dash = false;
  for (char c : s) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if ((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9')) {
      out += l;
      dash = false;
    } else if (!dash && !out.empty()) {
      out += '-';
      dash = true;
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

std::string Str(std::string_view s) { return std::string(s); }

}  // namespace

Status ValidateRegistrationOptions(const RegistrationOptions& options) {
  if (options.name_from != "local-part" && options.name_from != "email") {
    return InvalidArgument("profiles.nameFrom: \"" + options.name_from +
                           "\" is not supported: use local-part (alice@example.com -> alice) or "
                           "email (-> alice-example-com)");
  }
  if (!options.name_prefix.empty()) {
    if (options.name_prefix.size() > 20 ||
        !api::CheckDns1123Label(options.name_prefix + "x").empty()) {
      return InvalidArgument("profiles.namePrefix: \"" + options.name_prefix +
                             "\" must be lower-case letters, digits and '-', start with a letter "
                             "or digit, and be at most 20 characters");
    }
  }
  if (options.max_suffix < 2) return InvalidArgument("profiles: max_suffix must be at least 2");
  return Status::Ok();
}

std::string ProfileNameFor(std::string_view user, const RegistrationOptions& options) {
  std::string_view source = user;
  if (options.name_from != "email") {
    if (size_t at = user.find('@'); at != std::string_view::npos && at > 0) {
      source = user.substr(0, at);
    }
  }
  std::string local = Sanitise(source);
  if (local.empty()) local = "user";
  std::string base = options.name_prefix + local;
  if (base.size() > kMaxBaseLength) base.resize(kMaxBaseLength);
  while (!base.empty() && base.back() == '-') base.pop_back();
  return base;
}

bool IsReservedNamespace(std::string_view name) {
  static constexpr std::string_view kReserved[] = {
      "default",      "kube-system", "kube-public",  "kube-node-lease", "kubeflow",
      "istio-system", "auth",        "cert-manager", "knative-serving", "skiff-system"};
  for (auto r : kReserved) {
    if (name == r) return true;
  }
  return false;
}

bool IsRegistrable(const Principal& who) {
  if (who.name.empty() || who.method == "token") return false;
  if (who.name.rfind("system:", 0) == 0) return false;
  return who.name != "anonymous";
}

namespace {

// Users a thread has seen fully registered by one Registration (`owner`): the common case, a
// known user's next request, then touches no shared cache line.
struct ThreadSeen {
  uint64_t owner = 0;
  std::unordered_set<std::string> done;
};

std::atomic<uint64_t> next_registration_id{1};

}  // namespace

Registration::Registration(store::Store& store, http::TaskRunner& blocking, Clock& clock,
                           RegistrationOptions options)
    : store_(store),
      blocking_(blocking),
      clock_(clock),
      options_(std::move(options)),
      id_(next_registration_id.fetch_add(1)) {}

void Registration::OnRequest(const Principal& who) {
  if (!options_.auto_create || !IsRegistrable(who)) return;
  thread_local ThreadSeen local;
  if (local.owner == id_ && local.done.count(who.name) > 0) return;
  {
    std::shared_lock lock(seen_mu_);
    if (auto it = seen_.find(who.name); it != seen_.end()) {
      if (it->second) {
        if (local.owner != id_) {
          local.owner = id_;
          local.done.clear();
        }
        local.done.insert(who.name);
      }
      return;
    }
  }
  {
    std::unique_lock lock(seen_mu_);
    if (auto it = retry_at_.find(who.name); it != retry_at_.end()) {
      if (clock_.Steady() < it->second) return;
      retry_at_.erase(it);
    }
    if (!seen_.emplace(who.name, false).second) return;
  }
  blocking_.Post([this, user = who.name] {
    bool created = false;
    auto ns = EnsureProfile(user, &created);
    std::unique_lock lock(seen_mu_);
    if (ns) {
      seen_[user] = true;
      return;
    }
    spdlog::error("profiles: cannot create a profile for {}: {}", user, ns.error().ToString());
    // Let a later request try again, after a while.
    seen_.erase(user);
    retry_at_[user] = clock_.Steady() + options_.retry_after;
  });
}

Result<std::string> Registration::OwnedWorkgroup(const std::string& user) {
  SKIFF_ASSIGN_OR_RETURN(store::ListResult profiles, store_.List(Str(kProfileResource), {}));
  for (const auto& p : profiles.items) {
    if (ProfileOwner(p.object) == user) return p.key.name;
  }
  SKIFF_ASSIGN_OR_RETURN(store::ListResult bindings, store_.List(Str(kRoleBindingsResource), {}));
  for (const auto& b : bindings.items) {
    if (GetString(b.object, "metadata.annotations.user") == user &&
        GetString(b.object, "metadata.annotations.role") == "admin" &&
        GetString(b.object, "roleRef.name") == kAdminRole) {
      return b.key.ns;
    }
  }
  return std::string();
}

Result<bool> Registration::NameTaken(const std::string& name) {
  if (IsReservedNamespace(name)) return true;
  for (std::string_view resource : {kProfileResource, kNamespaceResource}) {
    auto got = store_.Get({Str(resource), "", name});
    if (got) return true;
    if (got.error().code() != Code::kNotFound) return got.error();
  }
  return false;
}

Status Registration::CreateLocked(const std::string& name, const std::string& owner) {
  json::object profile{
      {"apiVersion", Str(kProfileGroup) + "/v1"},
      {"kind", kProfileKind},
      {"metadata", NewMetadata(name, "", clock_)},
      {"spec", json::object{{"owner", json::object{{"kind", "User"}, {"name", owner}}}}}};
  auto created = store_.Create({Str(kProfileResource), "", name}, std::move(profile));
  if (!created) return created.error();
  spdlog::info("profiles: created profile {} for {}", name, owner);
  return Status::Ok();
}

Result<std::string> Registration::EnsureProfile(const std::string& user, bool* created) {
  if (created != nullptr) *created = false;
  std::lock_guard lock(create_mu_);
  SKIFF_ASSIGN_OR_RETURN(std::string owned, OwnedWorkgroup(user));
  if (!owned.empty()) return owned;
  const std::string base = ProfileNameFor(user, options_);
  for (int i = 1; i <= options_.max_suffix; ++i) {
    std::string name = i == 1 ? base : base + "-" + std::to_string(i);
    SKIFF_ASSIGN_OR_RETURN(bool taken, NameTaken(name));
    if (taken) continue;
    Status s = CreateLocked(name, user);
    if (s.code() == Code::kAlreadyExists) continue;  // created meanwhile by someone else
    SKIFF_RETURN_IF_ERROR(s);
    if (created != nullptr) *created = true;
    return name;
  }
  return ResourceExhausted("no free namespace name for " + user + " (tried " + base + " to " +
                           base + "-" + std::to_string(options_.max_suffix) + ")");
}

Status Registration::CreateProfile(const std::string& name, const std::string& owner) {
  if (std::string e = api::CheckDns1123Label(name); !e.empty()) {
    return Invalid("namespace \"" + name + "\": " + e);
  }
  if (IsReservedNamespace(name)) return Invalid("namespace \"" + name + "\" is reserved");
  if (owner.empty()) return Invalid("the profile's owner is empty");
  std::lock_guard lock(create_mu_);
  SKIFF_ASSIGN_OR_RETURN(bool taken, NameTaken(name));
  if (taken) return AlreadyExists("namespace \"" + name + "\" already exists");
  return CreateLocked(name, owner);
}

}  // namespace skiff::authz
