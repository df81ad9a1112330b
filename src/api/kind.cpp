#include "api/kind.hpp"

namespace skiff::api {

Status KindRegistry::Register(KindInfo info) {
  if (info.kind.empty() || info.plural.empty() || info.version.empty()) {
    return InvalidArgument("a kind needs kind, plural and version");
  }
  if (info.singular.empty()) {
    info.singular = info.kind;
    for (auto& c : info.singular)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (ByKind(info.group, info.version, info.kind) != nullptr ||
      ByPlural(info.group, info.version, info.plural) != nullptr) {
    return AlreadyExists("kind " + info.kind + " (" + info.GroupVersion() +
                         ") is already registered");
  }
  kinds_.push_back(std::make_shared<const KindInfo>(std::move(info)));
  return Status::Ok();
}

const KindInfo* KindRegistry::ByPlural(std::string_view group, std::string_view version,
                                       std::string_view plural) const {
  for (const auto& k : kinds_) {
    if (k->group == group && k->version == version && k->plural == plural) return k.get();
  }
  return nullptr;
}

const KindInfo* KindRegistry::ByKind(std::string_view group, std::string_view version,
                                     std::string_view kind) const {
  for (const auto& k : kinds_) {
    if (k->group == group && k->version == version && k->kind == kind) return k.get();
  }
  return nullptr;
}

std::vector<std::string> KindRegistry::Groups() const {
  std::vector<std::string> out;
  for (const auto& k : kinds_) {
    if (std::find(out.begin(), out.end(), k->group) == out.end()) out.push_back(k->group);
  }
  return out;
}

std::vector<std::string> KindRegistry::Versions(std::string_view group) const {
  std::vector<std::string> out;
  for (const auto& k : kinds_) {
    if (k->group == group && std::find(out.begin(), out.end(), k->version) == out.end()) {
      out.push_back(k->version);
    }
  }
  return out;
}

std::vector<std::shared_ptr<const KindInfo>> KindRegistry::NamespacedKinds() const {
  std::vector<std::shared_ptr<const KindInfo>> out;
  for (const auto& k : kinds_) {
    if (k->namespaced) out.push_back(k);
  }
  return out;
}

}  // namespace skiff::api
