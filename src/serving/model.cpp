#include "serving/model.hpp"

namespace skiff::serving {

void RuntimeRegistry::Register(std::unique_ptr<Runtime> runtime) {
  runtimes_.push_back(std::move(runtime));
}

std::vector<Runtime*> RuntimeRegistry::Find(std::string_view format,
                                            std::string_view runtime) const {
  std::vector<Runtime*> out;
  for (const auto& r : runtimes_) {
    if (!runtime.empty() && r->Name() != runtime) continue;
    if (r->Supports(format)) out.push_back(r.get());
  }
  return out;
}

}  // namespace skiff::serving
