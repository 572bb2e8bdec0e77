// detail/sha256.hpp: the validator's own SHA-256 and base64, against the
// FIPS 180-4 / NIST example vectors, RFC 4648's base64 vectors, and OpenSSL
// (linked into this test only) on every length around the block edges.

#include <nextprism/detail/sha256.hpp>

#include <catch2/catch.hpp>

#include <openssl/evp.h>

#include <random>

using nextprism::detail::base64_decode;
using nextprism::detail::base64_unpadded;
using nextprism::detail::sha256;
using nextprism::detail::sha256_hasher;
using nextprism::detail::sha256_hex;

namespace {

std::string hex(const std::array<unsigned char, 32>& d)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : d)
        out += digits[b >> 4], out += digits[b & 15];
    return out;
}

std::string openssl_sha256_hex(std::string_view data)
{
    std::array<unsigned char, 32> d{};
    unsigned int size = 0;
    REQUIRE(EVP_Digest(data.data(), data.size(), d.data(), &size, EVP_sha256(), nullptr) == 1);
    REQUIRE(size == 32);
    return hex(d);
}

std::string random_bytes(std::mt19937& rng, std::size_t n)
{
    std::string s(n, '\0');
    for (auto& c : s)
        c = static_cast<char>(rng() & 0xff);
    return s;
}

} // namespace

TEST_CASE("sha256: the NIST example vectors")
{
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    CHECK(sha256_hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                     "mnopqrstnopqrstu") == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: equal to OpenSSL for every length 0-300 and random ones, in one piece or in chunks")
{
    std::mt19937 rng(1805);
    for (std::size_t n = 0; n <= 300; ++n) {
        const auto data = random_bytes(rng, n);
        INFO("length " << n);
        REQUIRE(sha256_hex(data) == openssl_sha256_hex(data));
    }
    for (int i = 0; i < 200; ++i) {
        const auto data = random_bytes(rng, rng() % 20000);
        sha256_hasher h;
        for (std::size_t at = 0; at < data.size();) {
            const std::size_t take = std::min<std::size_t>(data.size() - at, rng() % 150);
            h.update(data.data() + at, take);
            at += take;
        }
        INFO("length " << data.size());
        REQUIRE(hex(h.digest()) == openssl_sha256_hex(data));
    }
}

TEST_CASE("base64: RFC 4648 vectors, OpenSSL's encoding, strict decoding")
{
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (auto [plain, encoded] : vectors) {
        const std::string p(plain), e(encoded);
        CHECK(base64_unpadded(reinterpret_cast<const unsigned char*>(p.data()), p.size()) ==
              e.substr(0, e.find('=')));
        CHECK(base64_decode(e) == p);
    }
    std::mt19937 rng(42);
    for (std::size_t n = 0; n < 200; ++n) {
        const auto data = random_bytes(rng, n);
        std::string theirs(4 * ((n + 2) / 3) + 1, '\0');
        const int size = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(theirs.data()),
                                         reinterpret_cast<const unsigned char*>(data.data()), static_cast<int>(n));
        theirs.resize(static_cast<std::size_t>(size));
        INFO("length " << n);
        CHECK(base64_unpadded(reinterpret_cast<const unsigned char*>(data.data()), n) ==
              theirs.substr(0, theirs.find('=')));
        CHECK(base64_decode(theirs) == data);
    }
    for (const char* bad : {"Zg=", "Zg", "Z===", "Zm9v=Zm9", "Zm 9", "Zm9v\n", "!!!!", "Zg==Zg==", "=AAA"})
        CHECK_FALSE(base64_decode(bad));
}
