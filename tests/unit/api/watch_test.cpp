// Watch responses through ResourceApi::Handle: the streamed body is pulled chunk by chunk, each
// pull bounded by a deadline.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/watch_stream.hpp"
#include "api_fixture.hpp"

namespace skiff::api {
namespace {

using testing::ApiTest;
using ::testing::HasSubstr;
using testing::kTableAccept;
using testing::Reply;
using testing::StreamReader;

class WatchTest : public ApiTest {};

TEST_F(WatchTest, SendsExistingObjectsThenChanges) {
  ASSERT_EQ(CreateNamespace("b").status, 201);
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply w = Get("/api/v1/namespaces?watch=true");
  ASSERT_EQ(w.status, 200) << w;
  ASSERT_NE(w.stream, nullptr);
  EXPECT_EQ(w.headers.Get("Content-Type").value_or(""), "application/json");
  StreamReader reader(w.stream);
  EXPECT_EQ(reader.NextSummary(), "ADDED a");
  EXPECT_EQ(reader.NextSummary(), "ADDED b");

  ASSERT_EQ(CreateNamespace("c").status, 201);
  json::value added = reader.NextEvent();
  EXPECT_EQ(GetString(added, "type"), "ADDED");
  EXPECT_EQ(GetString(added, "object.metadata.name"), "c");
  EXPECT_EQ(GetString(added, "object.kind"), "Namespace");
  EXPECT_EQ(GetString(added, "object.apiVersion"), "v1");

  Reply patched = Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                        R"({"metadata":{"labels":{"x":"1"}}})");
  ASSERT_EQ(patched.status, 200);
  json::value modified = reader.NextEvent();
  EXPECT_EQ(GetString(modified, "type"), "MODIFIED");
  EXPECT_EQ(GetString(modified, "object.metadata.labels.x"), "1");
  EXPECT_EQ(GetString(modified, "object.metadata.resourceVersion"),
            patched.Str("metadata.resourceVersion"));

  ASSERT_EQ(Do("DELETE", "/api/v1/namespaces/b").status, 200);
  EXPECT_EQ(reader.NextSummary(), "DELETED b");
  w.stream->Cancel();
}

TEST_F(WatchTest, LegacyWatchPathAndNamespacedWatch) {
  ASSERT_EQ(CreateNamespace("n1").status, 201);
  ASSERT_EQ(CreateNamespace("n2").status, 201);
  Reply w = Get("/api/v1/watch/namespaces/n1/resourcequotas");
  ASSERT_EQ(w.status, 200) << w;
  ASSERT_NE(w.stream, nullptr);
  StreamReader reader(w.stream);
  ASSERT_EQ(CreateQuota("n2", "elsewhere").status, 201);
  ASSERT_EQ(CreateQuota("n1", "here").status, 201);
  // Events are in version order: had "elsewhere" leaked through, it would come first.
  EXPECT_EQ(reader.NextSummary(), "ADDED here");
  w.stream->Cancel();
}

TEST_F(WatchTest, FromAResourceVersionReplaysOnlyLaterChanges) {
  Reply a = CreateNamespace("a");
  ASSERT_EQ(a.status, 201);
  ASSERT_EQ(CreateNamespace("b").status, 201);
  Reply w = Get("/api/v1/namespaces?watch=1&resourceVersion=" + a.Str("metadata.resourceVersion"));
  ASSERT_EQ(w.status, 200) << w;
  StreamReader reader(w.stream);
  EXPECT_EQ(reader.NextSummary(), "ADDED b");  // after a's version: not a itself
  ASSERT_EQ(CreateNamespace("c").status, 201);
  EXPECT_EQ(reader.NextSummary(), "ADDED c");
  w.stream->Cancel();
}

TEST_F(WatchTest, LabelSelectorFiltersEvents) {
  ASSERT_EQ(CreateNamespace("a", R"({"team":"x"})").status, 201);
  ASSERT_EQ(CreateNamespace("b").status, 201);
  Reply w = Get("/api/v1/namespaces?watch=true&labelSelector=team%3Dx");
  ASSERT_EQ(w.status, 200) << w;
  StreamReader reader(w.stream);
  EXPECT_EQ(reader.NextSummary(), "ADDED a");
  ASSERT_EQ(CreateNamespace("c").status, 201);
  ASSERT_EQ(CreateNamespace("d", R"({"team":"x"})").status, 201);
  EXPECT_EQ(reader.NextSummary(), "ADDED d");
  // Moving out of the selector reads as DELETED.
  ASSERT_EQ(Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"metadata":{"labels":{"team":null}}})")
                .status,
            200);
  EXPECT_EQ(reader.NextSummary(), "DELETED a");
  w.stream->Cancel();

  EXPECT_EQ(Get("/api/v1/namespaces?watch=true&labelSelector=team%20in%20(").status, 400);
  EXPECT_EQ(Get("/api/v1/namespaces?watch=true&fieldSelector=nope").status, 400);
}

TEST_F(WatchTest, SingleObjectWatchByName) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  ASSERT_EQ(CreateNamespace("b").status, 201);
  Reply w = Get("/api/v1/watch/namespaces/b");
  ASSERT_EQ(w.status, 200) << w;
  StreamReader reader(w.stream);
  EXPECT_EQ(reader.NextSummary(), "ADDED b");
  ASSERT_EQ(Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"metadata":{"labels":{"x":"1"}}})")
                .status,
            200);
  ASSERT_EQ(Patch("/api/v1/namespaces/b", "application/merge-patch+json",
                  R"({"metadata":{"labels":{"x":"1"}}})")
                .status,
            200);
  EXPECT_EQ(reader.NextSummary(), "MODIFIED b");
  w.stream->Cancel();
}

TEST_F(WatchTest, FieldSelectorOnAChangingFieldSendsDeletedWhenAnObjectLeaves) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply w = Get("/api/v1/namespaces?watch=true&fieldSelector=status.phase%3DActive");
  ASSERT_EQ(w.status, 200) << w;
  StreamReader reader(w.stream);
  EXPECT_EQ(reader.NextSummary(), "ADDED a");
  ASSERT_EQ(Patch("/api/v1/namespaces/a/status", "application/merge-patch+json",
                  R"({"status":{"phase":"Terminating"}})")
                .status,
            200);
  EXPECT_EQ(reader.NextSummary(), "DELETED a");
  // While it does not match, its changes are not sent; matching again is ADDED.
  ASSERT_EQ(Patch("/api/v1/namespaces/a", "application/merge-patch+json",
                  R"({"metadata":{"labels":{"x":"1"}}})")
                .status,
            200);
  ASSERT_EQ(Patch("/api/v1/namespaces/a/status", "application/merge-patch+json",
                  R"({"status":{"phase":"Active"}})")
                .status,
            200);
  json::value back = reader.NextEvent();
  EXPECT_EQ(GetString(back, "type"), "ADDED");
  EXPECT_EQ(GetString(back, "object.metadata.labels.x"), "1");
  w.stream->Cancel();
}

TEST_F(WatchTest, TableWatch) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply w = Get("/api/v1/namespaces?watch=true", {{"Accept", kTableAccept}});
  ASSERT_EQ(w.status, 200) << w;
  StreamReader reader(w.stream);
  json::value e = reader.NextEvent();
  EXPECT_EQ(GetString(e, "type"), "ADDED");
  EXPECT_EQ(GetString(e, "object.kind"), "Table");
  EXPECT_EQ(GetString(e, "object.rows.0.cells.0"), "a");
  EXPECT_EQ(GetString(e, "object.rows.0.cells.1"), "Active");
  w.stream->Cancel();
}

TEST_F(WatchTest, TooOldResourceVersionIsExpired) {
  Open(/*history_size=*/2);
  for (const char* n : {"a", "b", "c", "d", "e"}) ASSERT_EQ(CreateNamespace(n).status, 201);
  Reply r = Get("/api/v1/namespaces?watch=true&resourceVersion=1");
  EXPECT_EQ(r.status, 410) << r;
  EXPECT_EQ(r.stream, nullptr);
  EXPECT_EQ(r.Str("kind"), "Status");
  EXPECT_EQ(r.Str("reason"), "Expired");
  EXPECT_EQ(r.At("code"), json::value(410));
  EXPECT_THAT(r.Str("message"), HasSubstr("too old resource version"));

  // The latest version is still fine.
  Reply ok = Get("/api/v1/namespaces?watch=true&resourceVersion=" +
                 std::to_string(store_->CurrentVersion()));
  EXPECT_EQ(ok.status, 200) << ok;
  ok.stream->Cancel();
  EXPECT_EQ(Get("/api/v1/namespaces?watch=true&resourceVersion=abc").status, 400);
}

TEST_F(WatchTest, CloseWatchesEndsTheStream) {
  ASSERT_EQ(CreateNamespace("a").status, 201);
  Reply w = Get("/api/v1/namespaces?watch=true");
  ASSERT_EQ(w.status, 200) << w;
  StreamReader reader(w.stream);
  EXPECT_EQ(reader.NextSummary(), "ADDED a");
  api_->CloseWatches();
  EXPECT_EQ(reader.Next(), std::nullopt);
  // Watches opened after shutdown began end after their initial events, receiving no more.
  Reply late = Get("/api/v1/namespaces?watch=true");
  ASSERT_EQ(late.status, 200);
  ASSERT_EQ(CreateNamespace("b").status, 201);
  StreamReader late_reader(late.stream);
  EXPECT_EQ(late_reader.NextSummary(), "ADDED a");
  EXPECT_EQ(late_reader.NextSummary(), "END");
}

TEST_F(WatchTest, CloseWatchesWakesAPendingPull) {
  Reply w = Get("/api/v1/namespaces?watch=true");
  ASSERT_EQ(w.status, 200) << w;
  std::optional<std::string> got = std::string("unset");
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  w.stream->Pull([&](std::optional<std::string> chunk) {
    std::lock_guard lock(mu);
    got = std::move(chunk);
    done = true;
    cv.notify_all();
  });
  api_->CloseWatches();
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, testing::kWait, [&] { return done; }));
  EXPECT_EQ(got, std::nullopt);
}

TEST_F(WatchTest, TimeoutSecondsEndsTheStream) {
  Reply w = Get("/api/v1/namespaces?watch=true&timeoutSeconds=1");
  ASSERT_EQ(w.status, 200) << w;
  StreamReader reader(w.stream);
  EXPECT_EQ(reader.Next(), std::nullopt);  // within kWait
  EXPECT_EQ(Get("/api/v1/namespaces?watch=true&timeoutSeconds=-1").status, 400);
}

TEST_F(WatchTest, CancelStopsDelivery) {
  Reply w = Get("/api/v1/namespaces?watch=true");
  ASSERT_EQ(w.status, 200);
  w.stream->Cancel();
  ASSERT_EQ(CreateNamespace("a").status, 201);
  StreamReader reader(w.stream);
  EXPECT_EQ(reader.Next(), std::nullopt);
}

// ---------------------------------------------------------------------------------------------
// WatchStream on its own.

TEST(WatchStream, QueuesUntilPulledAndEndsAfterFinish) {
  auto s = std::make_shared<internal::WatchStream>();
  s->Push("one");
  s->Push("two");
  s->Finish();
  s->Push("ignored");
  StreamReader reader(s);
  EXPECT_EQ(reader.Next(), "one");
  EXPECT_EQ(reader.Next(), "two");
  EXPECT_EQ(reader.Next(), std::nullopt);
  EXPECT_TRUE(s->finished());
}

TEST(WatchStream, OverflowEndsTheStream) {
  auto s = std::make_shared<internal::WatchStream>();
  for (size_t i = 0; i < internal::WatchStream::kMaxQueued + 5; ++i) s->Push("x");
  EXPECT_TRUE(s->finished());
  StreamReader reader(s);
  size_t n = 0;
  while (n <= internal::WatchStream::kMaxQueued && reader.Next(std::chrono::seconds(1))) ++n;
  EXPECT_EQ(n, internal::WatchStream::kMaxQueued);
}

TEST(WatchReaper, EndsStreamsAtTheirDeadline) {
  internal::WatchReaper reaper;
  auto soon = std::make_shared<internal::WatchStream>();
  auto later = std::make_shared<internal::WatchStream>();
  reaper.Add(later, std::chrono::steady_clock::now() + std::chrono::hours(1));
  reaper.Add(soon, std::chrono::steady_clock::now() + std::chrono::milliseconds(20));
  StreamReader reader(soon);
  EXPECT_EQ(reader.Next(), std::nullopt);  // within kWait
  EXPECT_FALSE(later->finished());
  reaper.CloseAll();
  EXPECT_TRUE(later->finished());
}

TEST(WatchReaper, CloseAllWhileTheReaperWaitsOnADeadline) {
  // The reaper thread sleeps until the first deadline; CloseAll must not free what it waits on.
  for (int i = 0; i < 50; ++i) {
    internal::WatchReaper reaper;
    auto s = std::make_shared<internal::WatchStream>();
    reaper.Add(s, std::chrono::steady_clock::now() + std::chrono::hours(1));
    reaper.CloseAll();
    EXPECT_TRUE(s->finished());
    auto late = std::make_shared<internal::WatchStream>();
    reaper.Add(late, std::chrono::steady_clock::now() + std::chrono::hours(1));
    EXPECT_TRUE(late->finished());
  }
}

}  // namespace
}  // namespace skiff::api
