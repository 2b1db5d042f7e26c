// BlockingQueue: the hand-off between the engine's threads. What the pipeline relies on:
// bounded (back-pressure), FIFO per producer, every item delivered exactly once, close()/abort()
// wake every waiter, and a serial bump (seek) drops everything older without draining.
//
// Hook for the cancel token (include/vistream/cancel_token.hpp, issue 9): once queue waits take
// a token, add "cancel wakes a blocked push/pop" cases here, built like
// CloseWakesEveryBlockedConsumer (finishes_within() turns a missed wake-up into a failure).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "vistream/blocking_queue.hpp"

namespace vistream {
namespace {

using testing::finishes_within;
using testing::kNoHangDeadline;
using namespace std::chrono_literals;

struct Item {
  int producer = 0;
  int sequence = 0;
};

// Lets the started threads reach their wait; the assertions hold either way, the pause only
// makes the "woken from a real wait" path the one that runs.
void let_threads_block() { std::this_thread::sleep_for(50ms); }

TEST(BlockingQueue, DeliversInOrderAndCloseDrainsThenEnds) {
  BlockingQueue<int> queue(4);
  EXPECT_TRUE(queue.push(1));
  EXPECT_TRUE(queue.push(2));
  queue.close();
  EXPECT_FALSE(queue.push(3)) << "push after close must fail";
  EXPECT_FALSE(queue.drained()) << "closed but items left";
  EXPECT_EQ(queue.pop(), 1);
  EXPECT_EQ(queue.pop(), 2);
  EXPECT_EQ(queue.pop(), std::nullopt);
  EXPECT_TRUE(queue.drained());
}

TEST(BlockingQueue, MoveOnlyItemsPass) {
  BlockingQueue<std::unique_ptr<int>> queue(2);
  ASSERT_TRUE(queue.push(std::make_unique<int>(7)));
  std::optional<std::unique_ptr<int>> item = queue.pop();
  ASSERT_TRUE(item && *item);
  EXPECT_EQ(**item, 7);
}

TEST(BlockingQueue, ManyProducersManyConsumersEveryItemOnceInProducerOrderWithinCapacity) {
  constexpr int kProducers = 4;
  constexpr int kConsumers = 3;
  constexpr int kItemsEach = 2000;
  constexpr size_t kCapacity = 8;
  BlockingQueue<Item> queue(kCapacity);
  std::atomic<size_t> largest_size{0};
  std::vector<std::vector<Item>> received(kConsumers);

  finishes_within(kNoHangDeadline * 3, "producers/consumers", [&] {
    std::vector<std::thread> consumers;
    for (int c = 0; c < kConsumers; ++c) {
      consumers.emplace_back([&, c] {
        while (std::optional<Item> item = queue.pop()) {
          received[c].push_back(*item);
          const size_t size = queue.size();
          size_t seen = largest_size.load();
          while (size > seen && !largest_size.compare_exchange_weak(seen, size)) {}
        }
      });
    }
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (int i = 0; i < kItemsEach; ++i) ASSERT_TRUE(queue.push(Item{p, i}));
      });
    }
    for (auto& t : producers) t.join();
    queue.close();  // consumers finish what is queued, then see the end
    for (auto& t : consumers) t.join();
  });

  EXPECT_LE(largest_size.load(), kCapacity);
  std::vector<std::vector<int>> count(kProducers, std::vector<int>(kItemsEach, 0));
  for (const auto& items : received) {
    std::vector<int> last(kProducers, -1);
    for (const Item& item : items) {
      ++count[item.producer][item.sequence];
      EXPECT_GT(item.sequence, last[item.producer]) << "a producer's items arrived out of order";
      last[item.producer] = item.sequence;
    }
  }
  for (int p = 0; p < kProducers; ++p)
    for (int i = 0; i < kItemsEach; ++i) ASSERT_EQ(count[p][i], 1) << "item " << p << "/" << i;
}

TEST(BlockingQueue, PushBlocksWhileFullUntilAPop) {
  BlockingQueue<int> queue(2);
  ASSERT_TRUE(queue.push(1));
  ASSERT_TRUE(queue.push(2));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    EXPECT_TRUE(queue.push(3));
    pushed = true;
  });
  let_threads_block();
  EXPECT_FALSE(pushed.load()) << "push into a full queue returned without waiting";
  EXPECT_EQ(queue.pop(), 1);
  finishes_within(kNoHangDeadline, "push after a pop made room", [&] { producer.join(); });
  EXPECT_TRUE(pushed.load());
  EXPECT_EQ(queue.size(), 2u);
}

TEST(BlockingQueue, CloseWakesEveryBlockedConsumer) {
  constexpr int kConsumers = 4;
  BlockingQueue<int> queue(4);
  std::atomic<int> ended{0};
  std::vector<std::thread> consumers;
  for (int c = 0; c < kConsumers; ++c) {
    consumers.emplace_back([&] {
      EXPECT_EQ(queue.pop(), std::nullopt);
      ++ended;
    });
  }
  let_threads_block();
  queue.close();
  finishes_within(kNoHangDeadline, "consumers blocked in pop() after close()", [&] {
    for (auto& t : consumers) t.join();
  });
  EXPECT_EQ(ended.load(), kConsumers);
}

TEST(BlockingQueue, CloseWakesEveryBlockedProducerAndKeepsQueuedItems) {
  constexpr int kProducers = 4;
  BlockingQueue<int> queue(1);
  ASSERT_TRUE(queue.push(42));
  std::atomic<int> refused{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      if (!queue.push(p)) ++refused;
    });
  }
  let_threads_block();
  queue.close();
  finishes_within(kNoHangDeadline, "producers blocked in push() after close()", [&] {
    for (auto& t : producers) t.join();
  });
  EXPECT_EQ(refused.load(), kProducers);
  EXPECT_EQ(queue.pop(), 42) << "close() keeps what was queued";
  EXPECT_EQ(queue.pop(), std::nullopt);
}

TEST(BlockingQueue, AbortWakesEveryoneAndDropsQueuedItems) {
  BlockingQueue<std::unique_ptr<int>> full(1);
  ASSERT_TRUE(full.push(std::make_unique<int>(1)));
  BlockingQueue<std::unique_ptr<int>> empty(1);
  std::atomic<int> woken{0};
  std::vector<std::thread> waiters;
  for (int i = 0; i < 3; ++i) {
    waiters.emplace_back([&] {
      EXPECT_FALSE(full.push(std::make_unique<int>(2)));
      ++woken;
    });
    waiters.emplace_back([&] {
      EXPECT_EQ(empty.pop(), std::nullopt);
      ++woken;
    });
  }
  let_threads_block();
  full.abort();
  empty.abort();
  finishes_within(kNoHangDeadline, "waiters after abort()", [&] {
    for (auto& t : waiters) t.join();
  });
  EXPECT_EQ(woken.load(), 6);
  EXPECT_EQ(full.pop(), std::nullopt) << "abort() drops what was queued";
  EXPECT_TRUE(full.drained());
}

TEST(BlockingQueue, SerialBumpDropsOlderItemsIncludingLatePushes) {
  BlockingQueue<int> queue(8);
  const uint64_t old_serial = queue.serial();
  ASSERT_TRUE(queue.push(1));
  ASSERT_TRUE(queue.push(2));
  const uint64_t new_serial = queue.bump_serial();
  EXPECT_NE(new_serial, old_serial);
  EXPECT_EQ(queue.serial(), new_serial);
  EXPECT_EQ(queue.size(), 0u) << "bump_serial() discards what is queued";
  // Decoded before the seek, pushed after it: tagged with its own generation, so still stale.
  ASSERT_TRUE(queue.push(3, old_serial));
  ASSERT_TRUE(queue.push(4, new_serial));
  ASSERT_TRUE(queue.push(5));  // untagged: takes the current serial
  EXPECT_EQ(queue.pop(), 4);
  EXPECT_EQ(queue.pop(), 5);
  ASSERT_TRUE(queue.push(6, old_serial));
  EXPECT_EQ(queue.try_pop(), std::nullopt) << "try_pop() skips stale items too";
  EXPECT_EQ(queue.size(), 0u);
}

TEST(BlockingQueue, SerialBumpWakesAProducerBlockedOnAFullQueue) {
  BlockingQueue<int> queue(1);
  ASSERT_TRUE(queue.push(1));
  std::thread producer([&] { EXPECT_TRUE(queue.push(2)); });
  let_threads_block();
  queue.bump_serial();
  finishes_within(kNoHangDeadline, "producer after bump_serial()", [&] { producer.join(); });
}

// The seek pattern under load: a producer keeps pushing items tagged with the serial it read,
// the consumer keeps seeking (bumping). After each bump the consumer may only see items of the
// new generation, however the two threads interleave.
TEST(BlockingQueue, ConsumerNeverSeesAStaleGenerationWhileProducerRaces) {
  struct Tagged {
    uint64_t generation;
    int sequence;
  };
  BlockingQueue<Tagged> queue(4);
  std::thread producer([&] {
    for (int i = 0;; ++i) {
      const uint64_t generation = queue.serial();
      if (!queue.push(Tagged{generation, i}, generation)) return;  // closed
    }
  });
  int stale = 0;
  finishes_within(kNoHangDeadline * 3, "seek loop", [&] {
    for (int seek = 0; seek < 200; ++seek) {
      const uint64_t current = queue.bump_serial();
      for (int k = 0; k < 5; ++k) {
        std::optional<Tagged> item = queue.pop();
        if (item && item->generation != current) ++stale;
      }
    }
    queue.close();
    producer.join();
  });
  EXPECT_EQ(stale, 0) << "items of an older generation reached the consumer after a seek";
}

TEST(BlockingQueue, PushReplacingNeverWaitsAndKeepsTheNewest) {
  BlockingQueue<int> queue(2);
  int discarded = 0;
  finishes_within(kNoHangDeadline, "push_replacing() into a full queue", [&] {
    for (int i = 0; i < 1000; ++i) {
      const int dropped = queue.push_replacing(i, queue.serial());
      ASSERT_GE(dropped, 0);
      discarded += dropped;
    }
  });
  EXPECT_EQ(discarded, 998);
  EXPECT_EQ(queue.pop(), 998);
  EXPECT_EQ(queue.pop(), 999);
}

TEST(BlockingQueue, PushReplacingDoesNotCountStaleItemsAndFailsWhenClosed) {
  BlockingQueue<int> queue(2);
  const uint64_t old_serial = queue.serial();
  const uint64_t current = queue.bump_serial();
  ASSERT_TRUE(queue.push(1, old_serial));
  ASSERT_TRUE(queue.push(2, old_serial));
  EXPECT_EQ(queue.push_replacing(3, current), 0) << "dropping stale items loses nothing";
  EXPECT_EQ(queue.pop(), 3);
  queue.close();
  EXPECT_EQ(queue.push_replacing(4, current), -1);
}

// A real-time producer (push_replacing) racing a consumer: nothing is delivered twice, the
// order is kept, and the final item always arrives.
TEST(BlockingQueue, PushReplacingRacingAConsumerKeepsOrderAndTheLastItem) {
  constexpr int kItems = 5000;
  BlockingQueue<int> queue(3);
  std::vector<int> received;
  std::atomic<int> discarded{0};
  finishes_within(kNoHangDeadline * 3, "push_replacing producer and consumer", [&] {
    std::thread consumer([&] {
      while (std::optional<int> item = queue.pop()) received.push_back(*item);
    });
    for (int i = 0; i < kItems; ++i) discarded += queue.push_replacing(i, queue.serial());
    queue.close();
    consumer.join();
  });
  ASSERT_FALSE(received.empty());
  EXPECT_EQ(received.back(), kItems - 1);
  for (size_t i = 1; i < received.size(); ++i) ASSERT_LT(received[i - 1], received[i]);
  EXPECT_EQ(static_cast<int>(received.size()) + discarded.load(), kItems);
}

// The engine's real payload: refcounted AVFrames. Aborting with frames queued must free them
// (LeakSanitizer checks the ASan run) and a consumer must see the pixels the producer wrote.
TEST(BlockingQueue, CarriesFramesAcrossThreadsAndAbortFreesQueuedOnes) {
  BlockingQueue<UniqueFrame> queue(3);
  std::thread producer([&] {
    for (int i = 0; i < 100; ++i) {
      if (!queue.push(testing::make_gray_frame(32, 16, static_cast<uint8_t>(i)))) return;
    }
  });
  for (int i = 0; i < 20; ++i) {
    std::optional<UniqueFrame> frame = queue.pop();
    ASSERT_TRUE(frame && *frame);
    EXPECT_EQ((*frame)->data[0][0], static_cast<uint8_t>(i));
    EXPECT_EQ((*frame)->data[0][15 * (*frame)->linesize[0] + 31], static_cast<uint8_t>(i));
  }
  queue.abort();  // frames still queued and the one being pushed are freed
  finishes_within(kNoHangDeadline, "frame producer after abort()", [&] { producer.join(); });
}

}  // namespace
}  // namespace vistream
