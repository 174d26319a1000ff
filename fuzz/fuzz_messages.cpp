// libFuzzer target: the pool's reading of what a worker says about a call and itself — its
// Hello, a call's Progress and Error (workermessages_p.h). The first input byte picks the
// message; the rest is its body, exactly as a frame would carry it. Invariants checked on every
// input, besides memory safety (ASan) and undefined behaviour (UBSan):
//  * each reader either accepts the body or says why not;
//  * an Error always makes a failure, of the type its kind names, whose message says
//    something; its record text is never longer than type, message and a separator.
#include "workermessages_p.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>

using namespace procpool::detail;

namespace {
void check(bool condition)
{
    if (!condition)
        std::abort(); // reported by libFuzzer as a crash, with the input that caused it
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const QByteArray body(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    QString error;
    switch (data[0] % 3) {
    case 0: {
        HelloMessage hello;
        if (!parseHello(body, &hello, &error))
            check(!error.isEmpty());
        break;
    }
    case 1: {
        ProgressMessage progress;
        if (!parseProgress(body, &progress, &error))
            check(!error.isEmpty());
        break;
    }
    default: {
        ErrorMessage message;
        if (!parseError(body, &message, &error)) {
            check(!error.isEmpty());
            break;
        }
        const auto failure = message.failure(QStringLiteral("task"));
        check(failure != nullptr && failure->what() != nullptr && *failure->what() != '\0');
        check(message.recordText().size() <= message.type.size() + message.message.size() + 2);
        try {
            failure->raise();
        } catch (const procpool::TaskFailure &) {
            // the type survives a rethrow, as QFuture needs
        }
    }
    }
    return 0;
}
