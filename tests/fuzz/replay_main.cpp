// A main() for fuzz targets built without libFuzzer (g++, or TSan builds): runs
// the target once on every file named on the command line, or in the
// directories named there.  ctest uses it to replay the seed corpora and the
// regression inputs of crashes found earlier.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(std::uint8_t const* data, std::size_t size);

namespace {
void run_file(std::filesystem::path const& p, std::size_t& count)
{
    std::ifstream in(p, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // An exact-size heap copy, as libFuzzer gives, so that ASan sees reads past
    // the end.
    auto const buf = std::make_unique<std::uint8_t[]>(bytes.size() + 1);
    std::copy(bytes.begin(), bytes.end(), buf.get());
    LLVMFuzzerTestOneInput(bytes.empty() ? nullptr : buf.get(), bytes.size());
    ++count;
}
} // namespace

int main(int argc, char** argv)
{
    std::size_t count = 0;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path const p(argv[i]);
        if (std::filesystem::is_directory(p)) {
            for (auto const& e : std::filesystem::recursive_directory_iterator(p))
                if (e.is_regular_file()) run_file(e.path(), count);
        }
        else if (std::filesystem::exists(p))
            run_file(p, count);
        else {
            std::fprintf(stderr, "no such file or directory: %s\n", argv[i]);
            return 2;
        }
    }
    std::printf("replayed %zu inputs\n", count);
    return count == 0 ? 1 : 0;
}
