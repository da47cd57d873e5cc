using System.Runtime.InteropServices;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// The descriptors one thread waits on with poll(2) — the one call an event loop blocks in. poll, unlike epoll, is
/// replaced by the clock and network interposers that simulation tests load, so a daemon waiting only here can run
/// under them.
/// </summary>
public sealed unsafe class PollSet
{
    private Libc.PollFd[] _fds = new Libc.PollFd[8];
    private int[] _ready = new int[8];

    public int Count { get; private set; }

    /// <summary>Watches <paramref name="fd"/> for input.</summary>
    public void Add(int fd)
    {
        if (Count == _fds.Length)
        {
            Array.Resize(ref _fds, Count * 2);
            Array.Resize(ref _ready, Count * 2);
        }

        _fds[Count++] = new Libc.PollFd { Fd = fd, Events = Libc.POLLIN };
    }

    public void Remove(int fd)
    {
        for (int i = 0; i < Count; i++)
        {
            if (_fds[i].Fd == fd)
            {
                _fds[i] = _fds[--Count];
                return;
            }
        }
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMilliseconds"/> (-1: for ever) for input on any descriptor; returns the
    /// descriptors that are readable (or in error, so that the reader sees the error), valid until the next call.
    /// </summary>
    public ReadOnlySpan<int> Wait(int timeoutMilliseconds)
    {
        int ready;
        fixed (Libc.PollFd* fds = _fds)
        {
            ready = Libc.Poll(fds, (nuint)Count, timeoutMilliseconds);
        }

        if (ready < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno == Libc.EINTR)
            {
                return [];
            }

            throw new IOException($"poll: {Libc.ErrorText(errno)}");
        }

        int n = 0;
        for (int i = 0; i < Count && n < ready; i++)
        {
            if ((_fds[i].Revents & (Libc.POLLIN | Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0)
            {
                _ready[n++] = _fds[i].Fd;
            }
        }

        return _ready.AsSpan(0, n);
    }
}
