#pragma once
// The web dashboard's files as the build embedded them (cmake/web.cmake runs Vite and
// cmake/embed_web.py writes the table). Static data: every view is valid for the life of the
// process; thread-safe.

#include <span>
#include <string_view>

namespace skiff::dashboard {

struct Asset {
  std::string_view path;          // URL path: "/index.html", "/assets/index-abc123.js"
  std::string_view content_type;  // "text/javascript; charset=utf-8"
  std::string_view body;          // the file's bytes
  std::string_view gzip;          // a gzip copy; empty when not worth it (PNG, tiny files)
  std::string_view etag;          // strong ETag of `body`, quoted: "\"3f2a...\""
};

// Every embedded file, sorted by path. Empty when skiff was built with -DSKIFF_WEB=OFF.
std::span<const Asset> EmbeddedAssets();
// Whether the build ran Vite (SKIFF_WEB=ON).
bool EmbeddedAssetsBuilt();

}  // namespace skiff::dashboard
