// procpool monitor — contiguous runs of row numbers, for announcing model changes in ranges.
#pragma once

#include <QtCore/QList>

namespace procpool::monitor {

//! Calls \a f(first, last) for each run of consecutive numbers in the ascending list \a rows,
//! last run first, so that removing each run leaves the row numbers of the others valid.
template <typename F>
void forEachRunFromEnd(const QList<int> &rows, F &&f)
{
    for (qsizetype i = rows.size() - 1; i >= 0;) {
        const int last = rows.at(i);
        int first = last;
        while (i > 0 && rows.at(i - 1) == first - 1) {
            --first;
            --i;
        }
        --i;
        f(first, last);
    }
}

} // namespace procpool::monitor
