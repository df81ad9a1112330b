#pragma once
// Signing keys of the built-in provider: one private signing key plus the public keys of
// earlier signing keys that still verify unexpired tokens. State lives in DIR/keys.json (0600,
// DIR 0700), written atomically before a new key is used, so rotation is safe across restarts.
// Thread-safe: Current() is cheap and may be called on I/O threads; Open and RotateIfDue block.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "auth/jose.hpp"
#include "core/clock.hpp"

namespace skiff::identity {

class KeyManager {
 public:
  struct Snapshot {
    auth::jose::Key signing;  // private, alg and kid set
    std::shared_ptr<const auth::jose::KeySet> public_keys;
    std::chrono::system_clock::time_point rotate_at;
  };

  // Loads DIR/keys.json or creates it with a new key. A stored key of another algorithm than
  // `alg` is rotated out at once (kept for verification). `token_ttl` is how long a retired
  // key stays published (the longest lifetime of a token it signed).
  static Result<std::unique_ptr<KeyManager>> Open(std::string dir, auth::jose::Alg alg,
                                                  std::chrono::seconds rotation,
                                                  std::chrono::seconds token_ttl,
                                                  const Clock& clock);

  std::shared_ptr<const Snapshot> Current() const;
  bool RotationDue() const;
  // Rotates when due (and drops expired public keys). Blocking (key generation, file write).
  Status RotateIfDue();

 private:
  KeyManager(std::string dir, auth::jose::Alg alg, std::chrono::seconds rotation,
             std::chrono::seconds token_ttl, const Clock& clock)
      : dir_(std::move(dir)),
        alg_(alg),
        rotation_(rotation),
        token_ttl_(token_ttl),
        clock_(clock) {}
  struct Retired {
    auth::jose::Key key;  // public
    std::chrono::system_clock::time_point expires_at;
  };
  Status Load(bool* rotate_now);  // REQUIRES: rotate_mu_ held
  Status Rotate();                // REQUIRES: rotate_mu_ held
  Status Save(const auth::jose::Key& signing, std::chrono::system_clock::time_point created,
              std::chrono::system_clock::time_point rotate_at,
              const std::vector<Retired>& retired);  // REQUIRES: rotate_mu_ held
  void Publish(auth::jose::Key signing, std::chrono::system_clock::time_point rotate_at,
               std::vector<Retired> retired);  // REQUIRES: rotate_mu_ held

  const std::string dir_;
  const auth::jose::Alg alg_;
  const std::chrono::seconds rotation_;
  const std::chrono::seconds token_ttl_;
  const Clock& clock_;
  std::mutex rotate_mu_;  // serialises Load/Rotate and guards created_, retired_
  std::chrono::system_clock::time_point created_;
  std::vector<Retired> retired_;
  mutable std::mutex mu_;  // guards current_
  std::shared_ptr<const Snapshot> current_;
};

}  // namespace skiff::identity
