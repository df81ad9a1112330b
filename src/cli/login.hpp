#pragma once
// `skiff login`: gets OIDC tokens for a user and makes kubectl act as that user.
//
// Interactive: the authorization code flow with PKCE S256 and a loopback redirect (RFC 8252
// 7.3: http://127.0.0.1:<any port>/callback, a one-shot listener started by the command). The
// command prints the URL (and opens a browser when there is a display), waits for the redirect,
// checks state, exchanges the code, verifies the ID token (signature against the issuer's
// JWKS, iss, aud, exp, nonce) and stores the tokens in a per-user cache file (0600). It then
// writes a kubeconfig user whose credentials come from `skiff login --exec` (kubectl's
// client.authentication.k8s.io/v1 exec plugin, as kubelogin does): that prints the cached ID
// token while it is valid, refreshes it with the refresh token when it is not, and falls back to
// the interactive flow only when kubectl runs interactively.
//
// Defaults fit the built-in identity provider: issuer <server>/dex, public client "skiff-cli".

#include <string>

#include "core/config.hpp"

namespace skiff::cli {

struct LoginOptions {
  std::string issuer;                   // default: <server>/dex
  std::string client_id = "skiff-cli";  // a public client registered at the issuer
  std::string client_secret;            // for confidential clients (discouraged on a CLI)
  std::string scopes = "openid email profile groups offline_access";
  std::string kubeconfig;              // default: $KUBECONFIG's first entry, else ~/.kube/config
  std::string cache_dir;               // default: ~/.skiff/tokens
  std::string listen = "127.0.0.1:0";  // loopback listener for the redirect
  std::string timeout = "5m";          // how long to wait for the browser
  bool no_browser = false;             // only print the URL
  bool exec = false;                   // act as kubectl's exec credential plugin
  bool print_token = false;  // print a valid ID token (cached, refreshed or new); no kubeconfig
};

int RunLogin(const Settings& settings, const LoginOptions& options);

}  // namespace skiff::cli
