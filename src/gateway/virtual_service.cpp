#include "gateway/virtual_service.hpp"

namespace skiff::gateway {

api::FieldErrors ValidateVirtualService(const json::object& obj) {
  api::FieldErrors errors;
  (void)obj;
  return errors;
}

Result<VirtualService> ParseVirtualService(const json::object& obj, api::FieldErrors* errors,
                                           std::string_view cluster_domain) {
  (void)obj;
  (void)errors;
  (void)cluster_domain;
  return Unimplemented("ParseVirtualService: not yet");
}

std::string FormatFieldErrors(const api::FieldErrors& errors) {
  (void)errors;
  return "";
}

}  // namespace skiff::gateway
