#pragma once
// The VirtualService kind of the resource API: networking.istio.io v1beta1 (preferred), v1alpha3
// and v1, one schema and one storage (plural virtualservices, short name vs), validated on
// create and update by ValidateVirtualService so that `kubectl apply` names the bad field.

#include "api/kind.hpp"
#include "core/result.hpp"

namespace skiff::gateway {

inline constexpr std::string_view kIstioNetworkingGroup = "networking.istio.io";
// The store's resource name of VirtualServices (all versions).
inline constexpr std::string_view kVirtualServiceResource = "virtualservices.networking.istio.io";

Status RegisterVirtualServiceKinds(api::KindRegistry& registry);

}  // namespace skiff::gateway
