#include "postedcall_p.h"

#include <QtCore/QCoreApplication>

#if defined(__SANITIZE_THREAD__)
#define PROCPOOL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PROCPOOL_TSAN 1
#endif
#endif
#ifdef PROCPOOL_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace procpool::detail {

namespace {

class PostedCall : public QEvent
{
public:
    static QEvent::Type eventType()
    {
        static const auto type = QEvent::Type(QEvent::registerEventType());
        return type;
    }
    explicit PostedCall(std::function<void()> call) : QEvent(eventType()), m_call(std::move(call)) {}
    void run() { m_call(); }

private:
    std::function<void()> m_call;
};

} // namespace

void postCall(QObject *target, std::function<void()> call)
{
    auto *event = new PostedCall(std::move(call));
#ifdef PROCPOOL_TSAN
    __tsan_release(event);
#endif
    QCoreApplication::postEvent(target, event);
}

bool runPostedCall(QEvent *e)
{
    if (e->type() != PostedCall::eventType())
        return false;
#ifdef PROCPOOL_TSAN
    __tsan_acquire(e);
#endif
    static_cast<PostedCall *>(e)->run();
    return true;
}

} // namespace procpool::detail
