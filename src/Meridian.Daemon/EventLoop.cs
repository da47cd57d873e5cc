using System.Collections.Concurrent;
using Meridian.Host;

namespace Meridian.Daemon;

/// <summary>A timer of the <see cref="EventLoop"/>; cancelled timers are skipped when they come due.</summary>
public sealed class LoopTimer
{
    internal LoopTimer(double due, Action action)
    {
        Due = due;
        Action = action;
    }

    /// <summary>Monotonic seconds it fires at.</summary>
    public double Due { get; }

    internal Action Action { get; }

    public bool Cancelled { get; private set; }

    public void Cancel() => Cancelled = true;
}

/// <summary>
/// The daemon's one protocol thread: it waits only in poll(2) — on its sockets and a self-pipe that other threads
/// write to — with a timeout to the next timer, and runs everything that happens in the daemon's protocol time:
/// packets for the engine, the once-a-second tick, timeouts, name resolution results, signals. Deadlines are on the
/// monotonic clock, so a step of the wall clock moves none of them. A fault in one handler is logged and survived.
/// </summary>
public sealed class EventLoop : IDisposable
{
    private readonly PollSet _poll = new();
    private readonly Dictionary<int, Action> _readers = new();
    private readonly PriorityQueue<LoopTimer, double> _timers = new();
    private readonly ConcurrentQueue<Action> _posted = new();
    private readonly WakeUp? _wake;
    private readonly Log _log;
    private volatile bool _stopping;

    /// <param name="log">Where a failing handler is reported.</param>
    /// <param name="selfPipe">
    /// Whether other threads wake the loop through a pipe. The one-thread setting has none: a network simulator's
    /// poll knows only its own sockets (an unknown descriptor would look ready for ever), so work posted by a signal
    /// handler waits for the next timeout instead, at most a second.
    /// </param>
    public EventLoop(Log log, bool selfPipe = true)
    {
        _log = log ?? throw new ArgumentNullException(nameof(log));
        if (selfPipe)
        {
            _wake = new WakeUp();
            _poll.Add(_wake.Handle);
        }
    }

    /// <summary>Monotonic seconds.</summary>
    public static double Now => MonotonicClock.Now;

    /// <summary>The thread running the loop, once it runs.</summary>
    public Thread? Thread { get; private set; }

    /// <summary>Calls <paramref name="onReadable"/> on the loop whenever <paramref name="fd"/> has input.</summary>
    public void AddReader(int fd, Action onReadable)
    {
        ArgumentNullException.ThrowIfNull(onReadable);
        if (_readers.TryAdd(fd, onReadable))
        {
            _poll.Add(fd);
        }
    }

    public void RemoveReader(int fd)
    {
        if (_readers.Remove(fd))
        {
            _poll.Remove(fd);
        }
    }

    /// <summary>Runs <paramref name="action"/> on the loop at monotonic time <paramref name="due"/>.</summary>
    public LoopTimer At(double due, Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        var timer = new LoopTimer(due, action);
        _timers.Enqueue(timer, due);
        return timer;
    }

    /// <summary>Runs <paramref name="action"/> on the loop after <paramref name="seconds"/>.</summary>
    public LoopTimer After(double seconds, Action action) => At(Now + seconds, action);

    /// <summary>Runs <paramref name="action"/> on the loop soon; safe from any thread.</summary>
    public void Post(Action action)
    {
        ArgumentNullException.ThrowIfNull(action);
        _posted.Enqueue(action);
        _wake?.Signal();
    }

    /// <summary>Makes <see cref="Run"/> return after the current handler; safe from any thread.</summary>
    public void Stop()
    {
        _stopping = true;
        _wake?.Signal();
    }

    public bool Stopping => _stopping;

    /// <summary>Runs the loop on the calling thread until <see cref="Stop"/>.</summary>
    public void Run()
    {
        Thread = Thread.CurrentThread;
        while (!_stopping)
        {
            RunDueTimers();
            RunPosted();
            if (_stopping)
            {
                break;
            }

            foreach (int fd in _poll.Wait(Timeout()))
            {
                if (_wake is not null && fd == _wake.Handle)
                {
                    _wake.Drain();
                }
                else if (_readers.TryGetValue(fd, out Action? reader))
                {
                    Guarded(reader);
                }
            }
        }
    }

    /// <summary>Milliseconds to the next timer (rounded up, so that it is due when poll returns), at most a second.</summary>
    private int Timeout()
    {
        if (!_posted.IsEmpty)
        {
            return 0;
        }

        while (_timers.TryPeek(out LoopTimer? next, out _) && next.Cancelled)
        {
            _timers.Dequeue();
        }

        if (!_timers.TryPeek(out _, out double due))
        {
            return 1000;
        }

        double wait = due - Now;
        return wait <= 0 ? 0 : (int)Math.Min(1000, Math.Ceiling(wait * 1000));
    }

    private void RunDueTimers()
    {
        double now = Now;
        while (_timers.TryPeek(out LoopTimer? timer, out double due) && due <= now)
        {
            _timers.Dequeue();
            if (!timer.Cancelled)
            {
                Guarded(timer.Action);
            }
        }
    }

    private void RunPosted()
    {
        // What is posted while these run waits for the next round, so that a busy producer cannot starve the timers.
        for (int n = _posted.Count; n > 0 && _posted.TryDequeue(out Action? action); n--)
        {
            Guarded(action);
        }
    }

    private void Guarded(Action action)
    {
        try
        {
            action();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _log.Error($"internal error, continuing: {e.GetType().Name}: {e.Message}");
        }
    }

    public void Dispose() => _wake?.Dispose();
}
