#pragma once
// A store::Store that forwards every call to a real store, for tests that wrap the store to
// record or fail some calls: derive and override what the test changes.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/store.hpp"

namespace skiff::testing {

class ForwardingStore : public store::Store {
 public:
  explicit ForwardingStore(std::unique_ptr<store::Store> inner) : inner_(std::move(inner)) {}

  Result<store::Object> Create(const store::Key& key, json::object object) override {
    return inner_->Create(key, std::move(object));
  }
  Result<store::Object> Get(const store::Key& key) override { return inner_->Get(key); }
  Result<store::Object> Update(const store::Key& key, json::object object,
                               int64_t expected_version) override {
    return inner_->Update(key, std::move(object), expected_version);
  }
  Result<store::Object> Delete(const store::Key& key, int64_t expected_version) override {
    return inner_->Delete(key, expected_version);
  }
  Result<std::vector<store::Object>> Commit(std::vector<store::Mutation> mutations) override {
    return inner_->Commit(std::move(mutations));
  }
  Result<store::ListResult> List(const std::string& resource,
                                 const store::ListOptions& options) override {
    return inner_->List(resource, options);
  }
  Result<std::unique_ptr<store::Watch>> StartWatch(
      const std::string& resource, const store::WatchOptions& options,
      std::function<void(const store::Event&)> on_event,
      std::function<void(const Status&)> on_error) override {
    return inner_->StartWatch(resource, options, std::move(on_event), std::move(on_error));
  }
  int64_t CurrentVersion() override { return inner_->CurrentVersion(); }

 private:
  std::unique_ptr<store::Store> inner_;
};

}  // namespace skiff::testing
