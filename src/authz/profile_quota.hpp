#pragma once
// Object-count quotas for the kinds skiff stores: a ResourceQuota in a namespace (a Profile's
// spec.resourceQuotaSpec becomes the ResourceQuota `kf-resource-quota`, as in Kubeflow) whose
// spec.hard has `count/<plural>.<group>` (Kubernetes' object-count syntax, e.g.
// `count/inferenceservices.serving.kserve.io: "2"`) limits how many such objects the namespace
// may hold. A create over the limit is refused with 403 Forbidden and Kubernetes' message
// (`exceeded quota: kf-resource-quota, requested: count/...=1, used: count/...=2, limited:
// count/...=2`). Other quota keys (cpu, memory, pods...) are stored, not enforced: skiff runs no
// pods.
//
// An admission step in front of the resource API: QuotaGuard::Wrap wraps the API's handler.
// Creates in a namespace with a counting quota run one at a time (check, then create, under one
// mutex), so concurrent creates cannot both take the last slot. Objects created by skiff itself
// without the API (controllers) are counted but never refused.
//
// Threading: the wrapped handler blocks (store) like the API's; thread-safe.

#include <mutex>
#include <string>

#include "core/result.hpp"
#include "http/router.hpp"
#include "store/store.hpp"

namespace skiff::authz {

class QuotaGuard {
 public:
  explicit QuotaGuard(store::Store& store) : store_(store) {}

  // PermissionDenied when creating one more `storage_resource` object (e.g.
  // "inferenceservices.serving.kserve.io") in `ns` would exceed a ResourceQuota there. Blocking.
  Status Check(const std::string& storage_resource, const std::string& ns, const std::string& name);

  // The resource API's handler with the check in front of namespaced creates.
  http::SyncHandler Wrap(http::SyncHandler api);

 private:
  // Whether some ResourceQuota in `ns` counts `storage_resource`.
  Result<bool> Counted(const std::string& storage_resource, const std::string& ns);

  store::Store& store_;
  std::mutex create_mu_;  // serialises check + create in namespaces with a counting quota
};

}  // namespace skiff::authz
