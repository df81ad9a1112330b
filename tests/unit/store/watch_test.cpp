#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

#include "store/store.hpp"
#include "store_test_util.hpp"

namespace skiff::store {
namespace {

using testing::Doc;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kWait;
using testing::Recorder;
using testing::ResourceVersionOf;
using testing::TempDir;

const std::string kCm = "configmaps";

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store_.reset();
    SqliteOptions o = options_;
    o.path = dir_.File("skiff.db");
    Result<std::unique_ptr<Store>> s = OpenSqliteStore(o);
    ASSERT_TRUE(s) << s.error();
    store_ = std::move(*s);
  }

  std::unique_ptr<Watch> MustWatch(Recorder& rec, WatchOptions o = {},
                                   const std::string& resource = kCm) {
    Result<std::unique_ptr<Watch>> w =
        store_->StartWatch(resource, o, rec.OnEvent(), rec.OnError());
    EXPECT_TRUE(w) << w.error();
    return w ? std::move(*w) : nullptr;
  }

  int64_t Put(const std::string& name, const std::map<std::string, std::string>& labels = {},
              const std::string& ns = "") {
    Key key{kCm, ns, name};
    Result<Object> r = store_->Get(key) ? store_->Update(key, Doc(name, labels, ns), 0)
                                        : store_->Create(key, Doc(name, labels, ns));
    EXPECT_TRUE(r) << r.error();
    return r ? r->resource_version : 0;
  }
  int64_t Remove(const std::string& name, const std::string& ns = "") {
    Result<Object> r = store_->Delete({kCm, ns, name}, 0);
    EXPECT_TRUE(r) << r.error();
    return r ? r->resource_version : 0;
  }

  // For checks that a stopped or ended watch gets nothing more: a second watch that replays
  // version `v`. Once it has it, the stopped watch had its chance to (wrongly) receive `v` too.
  // Not a proof (dispatchers run in parallel), but Stop's guarantee is a flag checked under
  // the watcher's lock, and a broken one shows up here in practice.
  void Barrier(int64_t v) {
    Recorder all;
    WatchOptions o;
    o.from_version = v - 1;
    auto w = MustWatch(all, o);
    ASSERT_TRUE(all.WaitForEvents(1));
  }

  SqliteOptions options_;
  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(WatchTest, DeliversLiveEventsInOrder) {
  Put("before");
  Recorder rec;
  auto w = MustWatch(rec);  // from 0: no replay
  Put("a");                 // v2
  Put("a", {{"x", "y"}});   // v3
  Remove("a");              // v4
  ASSERT_TRUE(rec.WaitForEvents(3));
  EXPECT_THAT(rec.Summary(), ElementsAre("ADDED a 2", "MODIFIED a 3", "DELETED a 4"));
  std::vector<Event> events = rec.events();
  EXPECT_EQ(ResourceVersionOf(events[0].object.object), "2");
  EXPECT_EQ(ResourceVersionOf(events[2].object.object), "4");
  EXPECT_EQ(GetString(events[2].object.object, "metadata.labels.x"), "y");  // last state
  EXPECT_TRUE(rec.errors().empty());
}

TEST_F(WatchTest, OtherResourcesAreNotDelivered) {
  Recorder rec;
  auto w = MustWatch(rec);
  ASSERT_TRUE(store_->Create({"secrets", "", "s"}, Doc("s")));
  Put("a");  // events come in version order: once "a" is in, "s" would have been
  ASSERT_TRUE(rec.WaitForEvents(1));
  EXPECT_THAT(rec.Summary(), ElementsAre("ADDED a 2"));
}

TEST_F(WatchTest, ReplaysFromAVersionThenGoesLive) {
  Put("a");                // 1
  Put("b");                // 2
  Put("b", {{"k", "v"}});  // 3
  Remove("a");             // 4
  Recorder rec;
  WatchOptions o;
  o.from_version = 1;
  auto w = MustWatch(rec, o);
  Put("c");  // 5
  ASSERT_TRUE(rec.WaitForEvents(4));
  EXPECT_THAT(rec.Summary(), ElementsAre("ADDED b 2", "MODIFIED b 3", "DELETED a 4", "ADDED c 5"));
}

TEST_F(WatchTest, FromTheCurrentVersionReplaysNothing) {
  Put("a");
  Put("b");
  Recorder rec;
  WatchOptions o;
  o.from_version = store_->CurrentVersion();
  auto w = MustWatch(rec, o);
  Put("c");
  ASSERT_TRUE(rec.WaitForEvents(1));
  EXPECT_THAT(rec.Summary(), ElementsAre("ADDED c 3"));
}

TEST_F(WatchTest, FiltersByNamespace) {
  Recorder rec;
  WatchOptions o;
  o.ns = "team-a";
  auto w = MustWatch(rec, o);
  Put("x", {}, "team-b");
  Put("y", {}, "team-a");
  Put("z");
  Put("end", {}, "team-a");
  ASSERT_TRUE(rec.WaitForEvents(2));
  EXPECT_THAT(rec.Summary(), ElementsAre("ADDED y 2", "ADDED end 4"));
}

// Moving into the selector is ADDED, out of it DELETED with the previous content at the new
// version (what kubectl get -w -l expects); live and replayed watches agree.
TEST_F(WatchTest, SelectorTransitionsBecomeAddedAndDeleted) {
  WatchOptions o;
  o.label_selector = *Selector::Parse("app=web");
  Recorder live;
  auto w = MustWatch(live, o);
  Put("x", {{"app", "web"}});              // 1 ADDED
  Put("x", {{"app", "db"}});               // 2 moved out: DELETED
  Put("x", {{"app", "db"}, {"v", "2"}});   // 3 nothing
  Put("x", {{"app", "web"}});              // 4 moved in: ADDED
  Put("x", {{"app", "web"}, {"v", "3"}});  // 5 MODIFIED
  Put("other", {{"app", "db"}});           // 6 nothing
  Remove("x");                             // 7 DELETED
  Remove("other");                         // 8 nothing
  Put("zz", {{"app", "web"}});             // 9 ADDED: the last event, so all before it are in
  const std::vector<std::string> want = {"ADDED x 1",    "DELETED x 2", "ADDED x 4",
                                         "MODIFIED x 5", "DELETED x 7", "ADDED zz 9"};
  ASSERT_TRUE(live.WaitForEvents(want.size()));
  EXPECT_EQ(live.Summary(), want);
  Event out = live.events()[1];
  EXPECT_EQ(GetString(out.object.object, "metadata.labels.app"), "web");  // previous content
  EXPECT_EQ(ResourceVersionOf(out.object.object), "2");                   // at the new version

  Recorder replayed;
  o.from_version = 1;  // replays versions 2..9
  auto r = MustWatch(replayed, o);
  ASSERT_TRUE(replayed.WaitForEvents(want.size() - 1));
  EXPECT_EQ(replayed.Summary(), std::vector<std::string>(want.begin() + 1, want.end()));
  EXPECT_EQ(GetString(replayed.events()[0].object.object, "metadata.labels.app"), "web");
}

TEST_F(WatchTest, NotEqualsSelectorSeesUnlabelledObjects) {
  WatchOptions o;
  o.label_selector = *Selector::Parse("app!=web");
  Recorder rec;
  auto w = MustWatch(rec, o);
  Put("bare");
  Put("web", {{"app", "web"}});
  Put("bare", {{"app", "web"}});  // moves out
  ASSERT_TRUE(rec.WaitForEvents(2));
  EXPECT_THAT(rec.Summary(), ElementsAre("ADDED bare 1", "DELETED bare 3"));
}

TEST_F(WatchTest, TooOldVersionIsExpired) {
  options_.history_size = 5;
  Open();
  for (int i = 0; i < 10; ++i) Put("o" + std::to_string(i));  // versions 1..10, events 6..10 kept
  Recorder rec;
  WatchOptions o;
  o.from_version = 4;
  Result<std::unique_ptr<Watch>> w = store_->StartWatch(kCm, o, rec.OnEvent(), rec.OnError());
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), Code::kOutOfRange);
  EXPECT_EQ(w.error().reason(), "Expired");
  EXPECT_EQ(HttpStatusFor(w.error()), 410);
  EXPECT_THAT(w.error().message(), HasSubstr("too old resource version: 4 (5)"));

  o.from_version = 5;  // the oldest version the history still covers
  auto ok = MustWatch(rec, o);
  ASSERT_TRUE(rec.WaitForEvents(5));
  EXPECT_THAT(rec.Summary(),
              ElementsAre("ADDED o5 6", "ADDED o6 7", "ADDED o7 8", "ADDED o8 9", "ADDED o9 10"));
}

// Writes without history (bookkeeping no one watches) reach no watcher and take no room in the
// history: it keeps the newest history_size events, however many versions they span.
TEST_F(WatchTest, WritesWithoutHistoryAreNotWatchedNorKept) {
  options_.history_size = 5;
  Open();
  const std::string quiet = "quiets";
  Recorder live;
  auto w = MustWatch(live, {}, quiet);
  for (int i = 0; i < 6; ++i) Put("o" + std::to_string(i));  // versions 1..6
  std::vector<Mutation> many;
  for (int i = 0; i < 20; ++i) {
    std::string name = "q" + std::to_string(i);
    many.push_back({Mutation::Op::kCreate, {quiet, "", name}, Doc(name), 0, /*history=*/false});
  }
  auto written = store_->Commit(std::move(many));
  ASSERT_TRUE(written) << written.error();
  ASSERT_EQ(written->size(), 20u);
  EXPECT_EQ(written->back().resource_version, 26);  // they took versions all the same
  auto updated =
      store_->Commit({{Mutation::Op::kUpdate, {quiet, "", "q0"}, Doc("q0", {{"k", "v"}}), 0, false},
                      {Mutation::Op::kDelete, {quiet, "", "q1"}, {}, 0, false}});
  ASSERT_TRUE(updated) << updated.error();
  EXPECT_EQ(store_->Get({quiet, "", "q0"})->resource_version, 27);
  EXPECT_EQ(store_->Get({quiet, "", "q1"}).error().code(), Code::kNotFound);
  // A write of the same resource with history: the live watch's first event.
  ASSERT_TRUE(store_->Create({quiet, "", "loud"}, Doc("loud")));  // version 29
  ASSERT_TRUE(live.WaitForEvents(1));
  EXPECT_THAT(live.Summary(), ElementsAre("ADDED loud 29"));

  // Seven events so far (o0..o5, loud): the two oldest went, the other configmaps replay.
  Recorder rec;
  WatchOptions o;
  o.from_version = 1;
  Result<std::unique_ptr<Watch>> expired = store_->StartWatch(kCm, o, rec.OnEvent(), rec.OnError());
  ASSERT_FALSE(expired);
  EXPECT_THAT(expired.error().message(), HasSubstr("too old resource version: 1 (2)"));
  o.from_version = 2;
  auto replay = MustWatch(rec, o);
  ASSERT_TRUE(rec.WaitForEvents(4));
  EXPECT_THAT(rec.Summary(), ElementsAre("ADDED o2 3", "ADDED o3 4", "ADDED o4 5", "ADDED o5 6"));
  replay.reset();
  w.reset();

  // The same after a restart: one more event trims o2 (version 3).
  Open();
  Put("o6");  // version 30
  Recorder after;
  expired = store_->StartWatch(kCm, o, after.OnEvent(), after.OnError());
  ASSERT_FALSE(expired);
  EXPECT_THAT(expired.error().message(), HasSubstr("too old resource version: 2 (3)"));
  o.from_version = 3;
  auto again = MustWatch(after, o);
  ASSERT_TRUE(after.WaitForEvents(4));
  EXPECT_THAT(after.Summary(),
              ElementsAre("ADDED o3 4", "ADDED o4 5", "ADDED o5 6", "ADDED o6 30"));
}

TEST_F(WatchTest, HistorySurvivesReopen) {
  Put("a");
  Put("b");
  Put("c");
  Open();
  Recorder rec;
  WatchOptions o;
  o.from_version = 1;
  auto w = MustWatch(rec, o);
  Put("d");
  ASSERT_TRUE(rec.WaitForEvents(3));
  EXPECT_THAT(rec.Summary(), ElementsAre("ADDED b 2", "ADDED c 3", "ADDED d 4"));
}

TEST_F(WatchTest, StopWaitsForARunningCallbackAndNothingRunsAfter) {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  std::atomic<bool> in_callback{false};
  auto on_event = [&](const Event&) {
    in_callback = true;
    if (calls++ == 0) {
      entered.set_value();
      released.wait_for(kWait);
    }
    in_callback = false;
  };
  auto w = store_->StartWatch(kCm, {}, on_event, nullptr);
  ASSERT_TRUE(w);
  Put("a");
  Put("b");
  ASSERT_EQ(entered.get_future().wait_for(kWait), std::future_status::ready);

  std::promise<void> stopped;
  std::future<void> stop_returned = stopped.get_future();
  std::thread stopper([&] {
    (*w)->Stop();
    EXPECT_FALSE(in_callback.load());  // Stop returned: no callback is running
    stopped.set_value();
  });
  // Stop cannot return while the callback runs; give it a real chance to (wrongly) return.
  EXPECT_EQ(stop_returned.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  release.set_value();
  EXPECT_EQ(stop_returned.wait_for(kWait), std::future_status::ready);
  stopper.join();
  int64_t v = Put("c");
  Barrier(v);
  EXPECT_EQ(calls.load(), 1);  // "b" was queued but not delivered after Stop; "c" neither
}

TEST_F(WatchTest, StopFromInsideTheCallbackDoesNotDeadlock) {
  std::unique_ptr<Watch> handle;
  std::mutex mu;
  std::atomic<int> calls{0};
  std::promise<void> first;
  auto on_event = [&](const Event&) {
    if (calls++ == 0) {
      std::lock_guard lock(mu);
      handle->Stop();
      first.set_value();
    }
  };
  {
    std::lock_guard lock(mu);
    auto w = store_->StartWatch(kCm, {}, on_event, nullptr);
    ASSERT_TRUE(w);
    handle = std::move(*w);
  }
  Put("a");
  Put("b");
  ASSERT_EQ(first.get_future().wait_for(kWait), std::future_status::ready);
  int64_t v = Put("c");
  Barrier(v);
  EXPECT_EQ(calls.load(), 1);
  handle.reset();  // a second Stop is harmless
}

TEST_F(WatchTest, DestroyingTheHandleInsideTheCallbackStopsIt) {
  std::unique_ptr<Watch> handle;
  std::mutex mu;
  std::atomic<int> calls{0};
  std::promise<void> first;
  auto on_event = [&](const Event&) {
    if (calls++ == 0) {
      std::lock_guard lock(mu);
      handle.reset();
      first.set_value();
    }
  };
  {
    std::lock_guard lock(mu);
    auto w = store_->StartWatch(kCm, {}, on_event, nullptr);
    ASSERT_TRUE(w);
    handle = std::move(*w);
  }
  Put("a");
  Put("b");
  ASSERT_EQ(first.get_future().wait_for(kWait), std::future_status::ready);
  Barrier(Put("c"));
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(WatchTest, SlowWatcherOverflowEndsWithExpired) {
  options_.watch_queue_size = 5;
  Open();
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  Recorder rec;
  std::atomic<int> calls{0};
  auto on_event = [&](const Event& e) {
    if (calls++ == 0) {
      entered.set_value();
      released.wait_for(kWait);
    }
    rec.OnEvent()(e);
  };
  auto w = store_->StartWatch(kCm, {}, on_event, rec.OnError());
  ASSERT_TRUE(w);
  Put("first");
  ASSERT_EQ(entered.get_future().wait_for(kWait), std::future_status::ready);
  // Writers are not held up by the blocked watcher.
  for (int i = 0; i < 20; ++i) Put("o" + std::to_string(i));
  release.set_value();
  ASSERT_TRUE(rec.WaitForError());
  std::vector<Status> errors = rec.errors();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].reason(), "Expired");
  EXPECT_THAT(errors[0].message(), HasSubstr("watch fell too far behind"));
  Barrier(Put("after"));
  EXPECT_EQ(rec.events().size(), 1u);  // nothing after the error
  EXPECT_EQ(rec.errors().size(), 1u);
}

TEST_F(WatchTest, ClosingTheStoreEndsWatches) {
  Recorder rec;
  auto w = MustWatch(rec);
  Put("a");
  ASSERT_TRUE(rec.WaitForEvents(1));
  store_.reset();
  ASSERT_TRUE(rec.WaitForError());
  EXPECT_EQ(rec.errors()[0].code(), Code::kUnavailable);
  w->Stop();  // the handle outlives the store safely
  w.reset();
}

TEST_F(WatchTest, CallbacksMayUseTheStore) {
  std::promise<int64_t> seen;
  std::atomic<bool> once{false};
  Store* store = store_.get();
  auto on_event = [&](const Event& e) {
    if (once.exchange(true)) return;
    Result<Object> o = store->Get(e.object.key);
    // A write from the callback must not deadlock with the publisher either.
    Result<Object> c = store->Create({kCm, "", "from-callback"}, Doc("from-callback"));
    seen.set_value(o && c ? o->resource_version : -1);
  };
  auto w = store_->StartWatch(kCm, {}, on_event, nullptr);
  ASSERT_TRUE(w);
  Put("a");
  auto f = seen.get_future();
  ASSERT_EQ(f.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(f.get(), 1);
}

TEST_F(WatchTest, ConcurrentWritersAreSeenInVersionOrder) {
  Recorder rec;
  WatchOptions half;
  half.label_selector = *Selector::Parse("t in (0,2)");
  Recorder filtered;
  auto w = MustWatch(rec);
  auto f = MustWatch(filtered, half);
  constexpr int kThreads = 4, kEach = 30;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
        ASSERT_TRUE(store_->Create({kCm, "", name}, Doc(name, {{"t", std::to_string(t)}})));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(rec.WaitForEvents(kThreads * kEach));
  ASSERT_TRUE(filtered.WaitForEvents(2 * kEach));
  std::vector<Event> events = rec.events();
  ASSERT_EQ(events.size(), static_cast<size_t>(kThreads * kEach));
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].object.resource_version, static_cast<int64_t>(i + 1));
  }
  int64_t last = 0;
  for (const Event& e : filtered.events()) {
    EXPECT_GT(e.object.resource_version, last);
    last = e.object.resource_version;
  }
}

TEST_F(WatchTest, ManyWatchersEachGetEverything) {
  constexpr int kWatchers = 20;
  std::vector<std::unique_ptr<Recorder>> recs;
  std::vector<std::unique_ptr<Watch>> watches;
  for (int i = 0; i < kWatchers; ++i) {
    recs.push_back(std::make_unique<Recorder>());
    watches.push_back(MustWatch(*recs.back()));
  }
  for (int i = 0; i < 100; ++i) Put("o" + std::to_string(i));
  for (auto& r : recs) {
    ASSERT_TRUE(r->WaitForEvents(100));
    EXPECT_EQ(r->events().back().object.resource_version, 100);
  }
  watches.clear();  // handles before recorders
}

TEST_F(WatchTest, InvalidArgumentsAreRejected) {
  WatchOptions o;
  o.from_version = -1;
  EXPECT_EQ(store_
                ->StartWatch(
                    kCm, o, [](const Event&) {}, nullptr)
                .error()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_
                ->StartWatch(
                    "", {}, [](const Event&) {}, nullptr)
                .error()
                .code(),
            Code::kInvalidArgument);
  EXPECT_EQ(store_->StartWatch(kCm, {}, nullptr, nullptr).error().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace skiff::store
