// procpool headless mode — another procpool program as a pool's workers (--program PATH): what
// tasks it links, asked of the program itself.
#pragma once

#include <QtCore/QCborArray>
#include <QtCore/QString>

#include <optional>

namespace procpool::headless {

//! The catalogue program \a path prints when started with PROCPOOL_CATALOGUE set (what
//! procpool::workerMain() does first thing); nullopt and why when it does not.
std::optional<QCborArray> programCatalogue(const QString &path, QString *error);

} // namespace procpool::headless
