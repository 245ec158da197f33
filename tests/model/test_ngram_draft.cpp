// test_ngram_draft.cpp: NgramDrafter (prompt-lookup guesses): the longest n-gram of the text's
// end that occurred before is matched, its most recent occurrence wins, the guess goes on through
// itself past the text's end, the limits hold, and bad sizes are errors.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "ngram_draft.hpp"
#include "vkr/error.hpp"

namespace vkr {
namespace {

using Ids = std::vector<int32_t>;

NgramDrafter with(const Ids& ids, int lo = 1, int hi = 4) {
  NgramDrafter d(lo, hi);
  d.add(ids);
  return d;
}

TEST(NgramDrafter, GuessesWhatFollowedTheEndBefore) {
  // ... 1 2 3 [4 5 6] ... 1 2 3 -> 4 5 6 ...
  const auto d = with({9, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3});
  EXPECT_EQ(d.guess(3), (Ids{4, 5, 6}));
  EXPECT_EQ(d.guess(1), (Ids{4}));
  EXPECT_TRUE(d.guess(0).empty());
  EXPECT_EQ(d.size(), 12u);
}

TEST(NgramDrafter, LongestMatchWinsThenTheMostRecent) {
  // "2 3" ended before at index 2 (then 7) and at index 6 (then 8); "1 2 3" only at index 2.
  const auto d = with({1, 2, 3, 7, 0, 2, 3, 8, 1, 2, 3});
  EXPECT_EQ(d.guess(1), (Ids{7}));  // the 3-gram
  // Without the 3-gram (max 2), the most recent "2 3" wins.
  EXPECT_EQ(with({1, 2, 3, 7, 0, 2, 3, 8, 1, 2, 3}, 1, 2).guess(1), (Ids{8}));
}

TEST(NgramDrafter, MinimumLengthIsRespected) {
  // Only the last token (3) occurred before: a 1-gram match.
  const Ids ids{3, 5, 6, 7, 3};
  EXPECT_EQ(with(ids, 1, 4).guess(2), (Ids{5, 6}));
  EXPECT_TRUE(with(ids, 2, 4).guess(2).empty());
}

TEST(NgramDrafter, NothingBeforeNoGuess) {
  EXPECT_TRUE(with({}).guess(4).empty());
  EXPECT_TRUE(with({5}).guess(4).empty());
  EXPECT_TRUE(with({1, 2, 3, 4}).guess(4).empty());
}

TEST(NgramDrafter, PeriodicTextGoesOnThroughTheGuess) {
  // a b a b -> a b a b a ... (the guess reaches past the text's end and reads itself)
  EXPECT_EQ(with({1, 2, 1, 2}).guess(5), (Ids{1, 2, 1, 2, 1}));
  EXPECT_EQ(with({7, 7}).guess(3), (Ids{7, 7, 7}));
}

TEST(NgramDrafter, GrowsOneTokenAtATimeAndClears) {
  NgramDrafter d(2, 3);
  for (int32_t id : {4, 5, 6, 4}) d.add(id);
  EXPECT_TRUE(d.guess(2).empty());  // "6 4" is new; 1-grams are below the minimum
  d.add(5);
  EXPECT_EQ(d.guess(2), (Ids{6, 4}));
  d.clear();
  EXPECT_EQ(d.size(), 0u);
  EXPECT_TRUE(d.guess(2).empty());
  d.add(Ids{4, 5, 4, 5});
  EXPECT_EQ(d.guess(1), (Ids{4}));
}

// Against a direct search on random texts over a small alphabet (many matches, many lengths).
TEST(NgramDrafter, MatchesADirectSearch) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 200; ++trial) {
    const int lo = 1 + static_cast<int>(rng() % 3), hi = lo + static_cast<int>(rng() % 3);
    Ids ids(1 + rng() % 60);
    for (auto& id : ids) id = static_cast<int32_t>(rng() % 4);
    const size_t max = 1 + rng() % 6;
    Ids want;
    const size_t L = ids.size() - 1;
    for (int n = std::min<int>(hi, static_cast<int>(ids.size())); n >= lo && want.empty(); --n) {
      for (size_t at = L; at-- > static_cast<size_t>(n - 1);) {  // ends before L, latest first
        bool same = true;
        for (int i = 0; i < n && same; ++i) same = ids[at - i] == ids[L - i];
        if (!same) continue;
        for (size_t p = at + 1; want.size() < max; ++p) {
          want.push_back(p <= L ? ids[p] : want[p - L - 1]);
        }
        break;
      }
    }
    EXPECT_EQ(with(ids, lo, hi).guess(max), want) << "trial " << trial;
  }
}

TEST(NgramDrafter, BadSizesAreErrors) {
  EXPECT_THROW(NgramDrafter(0, 3), Error);
  EXPECT_THROW(NgramDrafter(3, 2), Error);
  EXPECT_THROW(NgramDrafter(1, NgramDrafter::kMaxNgram + 1), Error);
  try {
    NgramDrafter(4, 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("min 4 and max 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vkr
