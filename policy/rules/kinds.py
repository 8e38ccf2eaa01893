"""Resource kinds and type tokens the rules look at."""

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
ROLE_KINDS = ("ClusterRole", "Role")
BINDING_KINDS = ("ClusterRoleBinding", "RoleBinding")

STACK_TYPE = "pulumi:pulumi:Stack"
TLS_PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
TLS_CERT_REQUEST = "tls:index/certRequest:CertRequest"
TLS_LOCALLY_SIGNED = "tls:index/locallySignedCert:LocallySignedCert"
TLS_SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
