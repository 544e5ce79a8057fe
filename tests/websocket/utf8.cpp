// Test that the header is self-contained.
#include <rtmsg/detail/utf8.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace {

using rtmsg::detail::utf8_validator;

struct sample {
    char const* name;
    std::string bytes;
};

std::string long_mixed()
{
    std::string s;
    for (int i = 0; i < 6; ++i) s += "ASCII text, caf\xC3\xA9, \xE2\x82\xAC 5, \xF0\x9D\x84\x9E, \xF4\x8F\xBF\xBF; ";
    return s;
}

std::vector<sample> const valid = {
    {"empty", ""},
    {"ASCII", "Hello, world!"},
    {"NUL and DEL", std::string("a\0b\x7F", 4)},
    {"2-byte U+0080", "\xC2\x80"},
    {"2-byte U+00E9", "caf\xC3\xA9"},
    {"2-byte U+07FF", "\xDF\xBF"},
    {"3-byte U+0800", "\xE0\xA0\x80"},
    {"3-byte U+20AC", "\xE2\x82\xAC"},
    {"3-byte U+D7FF", "\xED\x9F\xBF"},
    {"3-byte U+E000", "\xEE\x80\x80"},
    {"3-byte U+FFFF", "\xEF\xBF\xBF"},
    {"4-byte U+10000", "\xF0\x90\x80\x80"},
    {"4-byte U+1D11E", "\xF0\x9D\x84\x9E"},
    {"4-byte U+10FFFF", "\xF4\x8F\xBF\xBF"},
    {"Greek", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"},
    {"long mixed", long_mixed()},
    {"long ASCII then 4-byte", std::string(70, 'a') + "\xF0\x9F\x98\x80"},
};

std::vector<sample> const invalid = {
    {"overlong C0 80", "\xC0\x80"},
    {"overlong C1 BF", "\xC1\xBF"},
    {"overlong E0 80 80", "\xE0\x80\x80"},
    {"overlong E0 9F BF", "\xE0\x9F\xBF"},
    {"overlong F0 80 80 80", "\xF0\x80\x80\x80"},
    {"overlong F0 8F BF BF", "\xF0\x8F\xBF\xBF"},
    {"surrogate ED A0 80", "\xED\xA0\x80"},
    {"surrogate ED AD BF", "\xED\xAD\xBF"},
    {"surrogate ED B0 80", "\xED\xB0\x80"},
    {"surrogate ED BF BF", "\xED\xBF\xBF"},
    {"surrogate pair", "\xED\xA0\x80\xED\xB0\x80"},
    {"above U+10FFFF F4 90 80 80", "\xF4\x90\x80\x80"},
    {"F5", "\xF5\x80\x80\x80"},
    {"F7", "\xF7\xBF\xBF\xBF"},
    {"F8", "\xF8\x88\x80\x80\x80"},
    {"FC", "\xFC\x84\x80\x80\x80\x80"},
    {"FE", "\xFE"},
    {"FF", "\xFF"},
    {"lone continuation 80", "\x80"},
    {"lone continuation BF", "a\xBF"},
    {"continuation after a complete character", "\xC3\xA9\xA9"},
    {"2-byte lead then ASCII", "\xC3(x"},
    {"3-byte lead then ASCII", "\xE2(\xA1"},
    {"3-byte missing last byte then ASCII", "\xE2\x82x"},
    {"4-byte missing last byte then ASCII", "\xF0\x9D\x84x"},
    {"invalid deep in a long run", long_mixed() + "\xED\xA0\x80" + long_mixed()},
    {"overlong deep in a long run", std::string(100, 'x') + "\xC0\xAF" + std::string(100, 'y')},
    {"lone continuation deep in a long run", std::string(64, 'x') + "\x80" + std::string(64, 'y')},
};

std::vector<sample> const truncated = {
    {"2-byte lead", "\xC3"},
    {"3-byte lead", "\xE2"},
    {"3-byte lead and one", "\xE2\x82"},
    {"4-byte lead", "\xF0"},
    {"4-byte lead and two", "\xF0\x9D\x84"},
    {"U+10FFFF missing last byte", "\xF4\x8F\xBF"},
    {"long run ending inside a character", long_mixed() + "\xF0\x9F\x98"},
};

/// The verdict on `s` fed in one write: 0 invalid, 1 valid, 2 valid but incomplete.
int verdict(std::vector<std::string_view> const& pieces)
{
    utf8_validator v;
    for (auto p : pieces)
        if (!v.write(p)) return 0;
    return v.complete() ? 1 : 2;
}

} // namespace

TEST_CASE("websocket: the UTF-8 validator accepts valid text", "[websocket]")
{
    for (auto const& s : valid) {
        INFO(s.name);
        utf8_validator v;
        CHECK(v.write(s.bytes));
        CHECK(v.complete());
        CHECK(utf8_validator::validate(s.bytes));
    }
}

TEST_CASE("websocket: the UTF-8 validator refuses invalid text", "[websocket]")
{
    for (auto const& s : invalid) {
        INFO(s.name);
        utf8_validator v;
        CHECK_FALSE(v.write(s.bytes));
        CHECK_FALSE(utf8_validator::validate(s.bytes));
    }
}

TEST_CASE("websocket: text that stops inside a character is not complete", "[websocket]")
{
    for (auto const& s : truncated) {
        INFO(s.name);
        utf8_validator v;
        CHECK(v.write(s.bytes)); // a valid prefix
        CHECK_FALSE(v.complete());
        CHECK_FALSE(utf8_validator::validate(s.bytes));
    }
}

TEST_CASE("websocket: a UTF-8 verdict does not depend on how the text is split", "[websocket]")
{
    auto const pad = GENERATE(as<std::size_t>{}, 0, 40);
    std::vector<sample> all = valid;
    all.insert(all.end(), invalid.begin(), invalid.end());
    all.insert(all.end(), truncated.begin(), truncated.end());
    for (auto const& s : all) {
        // Padding with ASCII on both sides moves the sample into the bulk (SIMD) path.
        std::string const text = std::string(pad, 'p') + s.bytes + std::string(pad, 'q');
        std::string_view const t = text;
        int const whole = verdict({t});
        INFO(s.name << ", padding " << pad << ", whole verdict " << whole);
        for (std::size_t i = 0; i <= t.size(); ++i) {
            INFO("split at " << i);
            REQUIRE(verdict({t.substr(0, i), t.substr(i)}) == whole);
        }
        // Three pieces around every byte of the sample.
        for (std::size_t i = pad; i + 1 < pad + s.bytes.size(); ++i) {
            INFO("pieces [0," << i << ") [" << i << "," << i + 2 << ") rest");
            REQUIRE(verdict({t.substr(0, i), t.substr(i, 2), t.substr(i + 2)}) == whole);
        }
        // One byte at a time.
        std::vector<std::string_view> bytes;
        for (std::size_t i = 0; i < t.size(); ++i) bytes.push_back(t.substr(i, 1));
        REQUIRE(verdict(bytes) == whole);
    }
}

TEST_CASE("websocket: the UTF-8 validator fails on the chunk where the text becomes invalid", "[websocket]")
{
    SECTION("an impossible prefix of a character fails at once")
    {
        for (std::string_view prefix : {"\xF4\x90", "\xE0\x80", "\xED\xA0", "\xF0\x80", "\xF0\x8F", "\xC0", "\xC1",
                                        "\xF5", "\xFF", "\x80", "\xE2\x28", "\xF0\x9F\x28"}) {
            INFO("prefix of " << prefix.size() << " bytes, first " << int(static_cast<unsigned char>(prefix[0])));
            utf8_validator v;
            CHECK_FALSE(v.write(prefix));
        }
    }
    SECTION("after a long valid run in the same chunk")
    {
        auto const run = GENERATE(as<std::size_t>{}, 1, 31, 32, 33, 64, 100);
        for (std::string_view prefix : {"\xF4\x90", "\xE0\x80", "\xED\xA0", "\xF0\x8F"}) {
            utf8_validator v;
            INFO("run " << run);
            CHECK_FALSE(v.write(std::string(run, 'a') + std::string(prefix)));
        }
    }
    SECTION("the byte that makes the prefix impossible fails in its own chunk")
    {
        for (std::string_view prefix : {"\xF4\x90", "\xE0\x80", "\xED\xA0", "\xF0\x80"}) {
            utf8_validator v;
            CHECK(v.write(std::string(40, 'a') + prefix[0]));
            CHECK_FALSE(v.complete());
            CHECK_FALSE(v.write(prefix.substr(1)));
        }
    }
    SECTION("a valid prefix is accepted and completes later")
    {
        utf8_validator v;
        CHECK(v.write("\xF4\x8F"));
        CHECK_FALSE(v.complete());
        CHECK(v.write("\xBF"));
        CHECK_FALSE(v.complete());
        CHECK(v.write("\xBF"
                      "abc"));
        CHECK(v.complete());
    }
    SECTION("reset forgets an open character")
    {
        utf8_validator v;
        CHECK(v.write("\xE2\x82"));
        v.reset();
        CHECK(v.complete());
        CHECK(v.write("abc"));
        CHECK(v.complete());
        CHECK(v.write("\xE0")); // narrows the next byte to A0..BF
        v.reset();
        CHECK(v.write("\xE1\x80\x80"));
        CHECK(v.write("\xF4")); // narrows the next byte to 80..8F
        v.reset();
        CHECK(v.write("\xF3\xBF\xBF\xBF"));
        CHECK(v.complete());
    }
}
