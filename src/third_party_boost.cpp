// The one translation unit that compiles Boost.Asio, Beast, JSON and URL (separate compilation
// mode). Everything else includes only their headers.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
#include <boost/url/src.hpp>
