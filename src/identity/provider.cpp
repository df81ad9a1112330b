// Placeholder so that the interface links while the provider is written.
#include "identity/identity.hpp"

namespace skiff::identity {

Result<std::unique_ptr<Provider>> Provider::Create(ProviderOptions) {
  return Unimplemented("identity: the built-in provider is not implemented yet");
}

}  // namespace skiff::identity
