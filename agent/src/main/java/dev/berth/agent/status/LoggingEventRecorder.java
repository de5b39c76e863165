package dev.berth.agent.status;

import io.fabric8.kubernetes.api.model.ObjectReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Standalone mode's events: one log line each (warnings at warn level), nothing sent anywhere. */
public final class LoggingEventRecorder implements EventRecorder {
    private static final Logger LOG = LoggerFactory.getLogger("dev.berth.agent.events");

    @Override
    public void event(ObjectReference o, String type, String reason, String message) {
        String what = o.getNamespace() + "/" + o.getName() + (o.getFieldPath() != null ? " " + o.getFieldPath() : "");
        if (WARNING.equals(type)) {
            LOG.warn("{} {}: {}", what, reason, message);
        } else {
            LOG.info("{} {}: {}", what, reason, message);
        }
    }
}
