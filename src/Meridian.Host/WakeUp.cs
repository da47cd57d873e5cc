using System.Runtime.InteropServices;
using Meridian.Host.Native;

namespace Meridian.Host;

/// <summary>
/// A self-pipe: other threads (the resolver, the serving threads, signal handlers) write one octet to wake a thread
/// blocked in poll(2); the woken thread drains it. Plain read and write, nothing an interposer must know about.
/// </summary>
public sealed unsafe class WakeUp : IDisposable
{
    private readonly int _read;
    private readonly int _write;
    private int _pending;
    private int _disposed;

    public WakeUp()
    {
        int* fds = stackalloc int[2];
        if (Libc.Pipe2(fds, Libc.O_NONBLOCK | Libc.O_CLOEXEC) != 0)
        {
            throw new IOException($"pipe2: {Libc.ErrorText(Marshal.GetLastPInvokeError())}");
        }

        _read = fds[0];
        _write = fds[1];
    }

    /// <summary>The descriptor to poll.</summary>
    public int Handle => _read;

    /// <summary>Wakes the waiting thread; many calls before it wakes cost one octet.</summary>
    public void Signal()
    {
        // After Dispose the descriptor may be another file's: a late signal (a resolver's answer) is dropped.
        if (Volatile.Read(ref _disposed) == 0 && Interlocked.Exchange(ref _pending, 1) == 0)
        {
            byte one = 1;
            Libc.Write(_write, &one, 1);
        }
    }

    /// <summary>Empties the pipe (called by the woken thread before it looks at what it was woken for).</summary>
    public void Drain()
    {
        Volatile.Write(ref _pending, 0);
        byte* buffer = stackalloc byte[64];
        while (Libc.Read(_read, buffer, 64) > 0)
        {
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Libc.Close(_read);
            Libc.Close(_write);
        }
    }
}
