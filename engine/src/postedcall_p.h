// procpool — calls one thread posts to another's event loop.
//
// Qt's event queue orders everything the posting thread did before posting, but it does so
// inside Qt, which ThreadSanitizer builds do not instrument; so the hand-over is announced to
// TSan here, once the event is complete, which is why these are events of our own rather than
// QMetaObject::invokeMethod(), whose slot object Qt builds after any announcement could be
// made. Other builds add nothing.
#pragma once

#include <QtCore/QEvent>

#include <functional>

class QObject;

namespace procpool::detail {

//! Runs \a call on \a target's thread, after the events already queued there (any thread).
//! Dropped with the target if it is deleted first.
void postCall(QObject *target, std::function<void()> call);
//! For event() overrides: runs \a e if it is a posted call; false for any other event.
bool runPostedCall(QEvent *e);

} // namespace procpool::detail
