#include "gateway/kind.hpp"

#include "gateway/virtual_service.hpp"

namespace skiff::gateway {

namespace {

api::KindInfo VirtualServiceKind(std::string version) {
  api::KindInfo k;
  k.group = std::string(kIstioNetworkingGroup);
  k.version = std::move(version);
  k.kind = "VirtualService";
  k.plural = "virtualservices";
  k.singular = "virtualservice";
  k.short_names = {"vs"};
  k.categories = {"istio-io", "networking-istio-io"};
  // Istio's printer columns.
  k.columns = {
      {"Gateways", "string", ".spec.gateways",
       "The names of gateways and sidecars that should "
       "apply these routes",
       0, "", nullptr},
      {"Hosts", "string", ".spec.hosts", "The destination hosts to which traffic is being sent", 0,
       "", nullptr},
  };
  k.validate = [](const json::object& obj) { return ValidateVirtualService(obj); };
  return k;
}

}  // namespace

Status RegisterVirtualServiceKinds(api::KindRegistry& registry) {
  for (const char* version : {"v1beta1", "v1alpha3", "v1"}) {
    SKIFF_RETURN_IF_ERROR(registry.Register(VirtualServiceKind(version)));
  }
  return Status::Ok();
}

}  // namespace skiff::gateway
