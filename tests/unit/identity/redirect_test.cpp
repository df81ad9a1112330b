// Which redirect_uri values a client may use: exact matches, plus RFC 8252 loopback redirects
// of native apps (`skiff login`) on any port.
#include <gtest/gtest.h>

#include "identity/provider_impl.hpp"

namespace skiff::identity::internal {
namespace {

TEST(RedirectUriTest, ExactMatchOnly) {
  std::vector<std::string> r = {"https://app.example.com/callback"};
  EXPECT_TRUE(RedirectUriRegistered(r, "https://app.example.com/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "https://app.example.com/callback/x"));
  EXPECT_FALSE(RedirectUriRegistered(r, "https://app.example.com/callback?x=1"));
  EXPECT_FALSE(RedirectUriRegistered(r, "https://app.example.com:8443/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "https://app.example.com.evil.com/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "https://APP.example.com/callback"));
}

TEST(RedirectUriTest, LoopbackRegisteredWithoutPortAcceptsAnyPort) {
  std::vector<std::string> r = {"http://127.0.0.1/callback", "http://[::1]/callback"};
  EXPECT_TRUE(RedirectUriRegistered(r, "http://127.0.0.1/callback"));
  EXPECT_TRUE(RedirectUriRegistered(r, "http://127.0.0.1:49152/callback"));
  EXPECT_TRUE(RedirectUriRegistered(r, "http://[::1]:8000/callback"));
  // Host, scheme and path still match exactly.
  EXPECT_FALSE(RedirectUriRegistered(r, "http://127.0.0.1:49152/other"));
  EXPECT_FALSE(RedirectUriRegistered(r, "http://127.0.0.1:49152/callback/../x"));
  EXPECT_FALSE(RedirectUriRegistered(r, "https://127.0.0.1:49152/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "http://localhost:49152/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "http://127.0.0.1.evil.com:80/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "http://127.0.0.1:80@evil.com/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "http://127.0.0.1:/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "http://127.0.0.1:123456/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "http://[::1]:80/callbackx"));
}

TEST(RedirectUriTest, LoopbackRegisteredWithAPortIsExact) {
  std::vector<std::string> r = {"http://127.0.0.1:8000/callback"};
  EXPECT_TRUE(RedirectUriRegistered(r, "http://127.0.0.1:8000/callback"));
  EXPECT_FALSE(RedirectUriRegistered(r, "http://127.0.0.1:8001/callback"));
}

}  // namespace
}  // namespace skiff::identity::internal
