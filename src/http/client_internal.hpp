#pragma once
// Private to skiff_http: the asynchronous client exchange shared by http::Fetch (blocking, on a
// private io_context) and Server::Fetch (on a server I/O thread).

#include <functional>

#include "http/client.hpp"

namespace boost::asio {
class io_context;
}

namespace skiff::http::internal {

// Starts one exchange on `ctx`. `done` runs exactly once on a thread running `ctx`, unless `ctx`
// is stopped and destroyed first (then it is destroyed without being called).
void StartFetch(boost::asio::io_context& ctx, ClientRequest request,
                std::function<void(Result<ClientResponse>)> done);

}  // namespace skiff::http::internal
