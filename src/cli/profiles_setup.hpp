#pragma once
// Profiles for `skiff up`: the Profile kind, the profile controller, the registration flow, the
// kfam / dashboard workgroup API and the object-count quota guard, built from the profiles.*
// settings. server_app.cpp wires it in a few lines:
//
//   RegisterProfileKinds(kinds);                        // with the other kinds
//   auto profiles = MakeProfiles(settings, store, kinds, authorizer, blocking, clock,
//                                [&](auto& o, bool d) { authorizer.Observe(o, d); });
//   profiles->Mount(*router);                           // /kfam/*, /api/workgroup/*
//   before.push_back(profiles->KfamRoute());            // /kfam is not under a platform route
//   api_handler = profiles->quota->Wrap(api_handler);   // count/... quotas on creates
//   profiles->Start();  ...  profiles->Stop();
//   in the dispatch step: if (req.principal) profiles->registration->OnRequest(*req.principal);

#include <memory>
#include <vector>

#include "api/kind.hpp"
#include "authz/authz.hpp"
#include "authz/kfam.hpp"
#include "authz/profile_controller.hpp"
#include "authz/profile_quota.hpp"
#include "authz/registration.hpp"
#include "core/config.hpp"
#include "gateway/route_table.hpp"
#include "http/router.hpp"

namespace skiff::cli {

// profiles.autoCreate, profiles.registrationFlow, profiles.namePrefix, profiles.nameFrom.
std::vector<SettingSpec> ProfileSettingSpecs();

// Registers kubeflow.org/v1 Profile.
Status RegisterProfileKinds(api::KindRegistry& kinds);

struct ProfilesStack {
  std::unique_ptr<authz::ProfileController> controller;
  std::unique_ptr<authz::Registration> registration;
  std::unique_ptr<authz::KfamApi> kfam;
  std::unique_ptr<authz::QuotaGuard> quota;

  // Serves /kfam/* and /api/workgroup/* from `router` on its blocking pool.
  void Mount(http::Router& router);
  // The gateway's reserved route for /kfam (service "api", i.e. the router). /api/workgroup is
  // under the /api platform route already.
  static gateway::BuiltinRoute KfamRoute();
  // Starts / stops the controller (blocking).
  Status Start() { return controller->Start(); }
  void Stop() { controller->Stop(); }
};

// Builds the stack (does not start it). All references must outlive it; tasks the registration
// posts to `blocking` must have run before it goes (stop the server first). `on_write` gets
// every RoleBinding write of the controller and kfam (RbacAuthorizer::Observe), may be empty.
Result<std::unique_ptr<ProfilesStack>> MakeProfiles(
    const Settings& settings, store::Store& store, const api::KindRegistry& kinds,
    const authz::Authorizer& authorizer, http::TaskRunner& blocking, Clock& clock,
    std::function<void(const store::Object& obj, bool deleted)> on_write = {});

}  // namespace skiff::cli
