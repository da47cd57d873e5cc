namespace Meridian.Engine;

/// <summary>
/// Decides between slewing, stepping, waiting and panicking, as ntpd does for both disciplines: an offset above the
/// step threshold is stepped at once at start, later only once it has persisted for the stepout interval (a spike
/// that goes away is ignored); an offset above the panic threshold stops the daemon unless -g allows it once.
/// </summary>
public sealed class StepGate(DisciplineSettings settings)
{
    private bool _first = true;
    private double? _spikeSince;

    /// <summary>True until the first offset has been acted on.</summary>
    public bool IsFirst => _first;

    public DisciplineAction Judge(double offset, double now)
    {
        double magnitude = Math.Abs(offset);
        if (settings.PanicThreshold > 0 && magnitude > settings.PanicThreshold && !(_first && settings.AllowFirstPanic))
        {
            return DisciplineAction.Panic;
        }

        if (magnitude <= settings.StepThreshold || settings.SlewAlways)
        {
            _spikeSince = null;
            _first = false;
            return DisciplineAction.Slewed;
        }

        if (!_first)
        {
            _spikeSince ??= now;
            if (now - _spikeSince.Value < settings.Stepout)
            {
                return DisciplineAction.Ignored;
            }
        }

        _spikeSince = null;
        _first = false;
        return DisciplineAction.Stepped;
    }
}
