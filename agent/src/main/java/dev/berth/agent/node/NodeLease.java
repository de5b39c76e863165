package dev.berth.agent.node;

import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.time.Clock;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.List;

/**
 * The node's heartbeat: the Lease {@code kube-node-lease/<node>} held by the node, 40 seconds
 * long, owned by the Node (so it goes with it). Each {@link #renew} writes renewTime = now
 * with the Lease last written (one request); a stale resourceVersion or a missing Lease makes
 * the next renewal read it again, or create it.
 */
final class NodeLease {
    static final String NAMESPACE = "kube-node-lease";
    static final int DURATION_SECONDS = 40;

    private final KubernetesClient api;
    private final String nodeName;
    private final Clock clock;
    private Lease last;

    NodeLease(KubernetesClient api, String nodeName, Clock clock) {
        this.api = api;
        this.nodeName = nodeName;
        this.clock = clock;
    }

    /** Renews (or creates) the Lease, owned by the Node of {@code nodeUid}; API errors are thrown to the caller's retry. */
    void renew(String nodeUid) {
        ZonedDateTime now = ZonedDateTime.now(clock.withZone(ZoneOffset.UTC));
        Lease base = last;
        if (base == null) {
            base = api.leases().inNamespace(NAMESPACE).withName(nodeName).get();
        }
        try {
            if (base == null) {
                last = api.leases().inNamespace(NAMESPACE).resource(desired(new LeaseBuilder().withNewMetadata().withName(nodeName)
                        .withNamespace(NAMESPACE).endMetadata().build(), nodeUid, now)).create();
            } else {
                last = api.leases().inNamespace(NAMESPACE).resource(desired(base, nodeUid, now)).update();
            }
        } catch (KubernetesClientException e) {
            last = null; // 409 (stale or created meanwhile), 404 (deleted): read it again next time
            throw e;
        }
    }

    private Lease desired(Lease base, String nodeUid, ZonedDateTime now) {
        OwnerReference owner = new OwnerReferenceBuilder().withApiVersion("v1").withKind("Node").withName(nodeName).withUid(nodeUid).build();
        return new LeaseBuilder(base)
                .editMetadata().withOwnerReferences(ownedBy(base, nodeUid) ? base.getMetadata().getOwnerReferences() : List.of(owner)).endMetadata()
                .editOrNewSpec().withHolderIdentity(nodeName).withLeaseDurationSeconds(DURATION_SECONDS).withRenewTime(now).endSpec()
                .build();
    }

    private static boolean ownedBy(Lease lease, String uid) {
        return lease.getMetadata().getOwnerReferences() != null
                && lease.getMetadata().getOwnerReferences().stream().anyMatch(r -> "Node".equals(r.getKind()) && uid.equals(r.getUid()));
    }
}
